"""The benchmark gate: compare a summary with a stored anchor file (JSON) and name what regressed.

An anchor holds, per (dataset, model, setting, strategy), the number of seeds and the mean AUBC and
final accuracy over them, each with an absolute tolerance. A figure regresses when it falls below
``anchor - tolerance``; too few finished seeds, or no runs at all for an anchored strategy, fail too.
A figure above ``anchor + tolerance`` passes with a note (refresh the anchor if the gain is wanted).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alrun.report.runs import IDENTITY, ReportError
from alrun.report.summary import FIGURES

ANCHOR_VERSION = 1


@dataclass(frozen=True)
class Verdict:
    """The outcome for one anchored figure.

    Attributes:
        name: ``strategy`` (with dataset/model/setting when the anchor has several).
        figure: ``aubc``, ``final_acc`` or ``seeds``.
        anchor: the anchored value.
        now: this run's value (NaN when absent).
        tolerance: allowed drop below the anchor.
        ok: whether the figure passes.
        note: a short explanation.
    """

    name: str
    figure: str
    anchor: float
    now: float
    tolerance: float
    ok: bool
    note: str


def make_anchor(summary: pd.DataFrame, tolerance: dict[str, float], source: Any) -> dict[str, Any]:
    """An anchor from a summary: every group's seeds, mean AUBC and mean final accuracy.

    Args:
        summary: the summary table.
        tolerance: allowed drop per figure (``aubc``, ``final_acc``).
        source: provenance to store with it (the runs, versions, commit).
    """
    entries = []
    for row in summary.to_dict("records"):
        entry: dict[str, Any] = {k: row[k] for k in IDENTITY} | {"n_seeds": int(row["n_seeds"])}
        entry |= {fig: round(float(row[f"{fig}_mean"]), 4) for fig in FIGURES}
        entry |= {"tolerance": {fig: tolerance[fig] for fig in FIGURES}}
        entries.append(entry)
    return {"version": ANCHOR_VERSION, "source": source, "entries": entries}


def write_anchor(anchor: dict[str, Any], path: Path) -> None:
    """Write an anchor as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(anchor, indent=2) + "\n")


def read_anchor(path: Path) -> dict[str, Any]:
    """Read and check an anchor file; :class:`ReportError` names what is wrong with it."""
    try:
        anchor = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read anchor {path}: {exc}") from None
    entries = anchor.get("entries") if isinstance(anchor, dict) else None
    needed = {*IDENTITY, "n_seeds", *FIGURES, "tolerance"}
    if not isinstance(entries, list) or not entries or any(needed - set(e) for e in entries):
        raise ReportError(f"anchor {path} needs a non-empty 'entries' list with keys {sorted(needed)}")
    return anchor


def _name(entry: dict[str, Any], several: bool) -> str:
    if not several:
        return str(entry["strategy"])
    where = ", ".join(str(entry[k]) for k in ("dataset", "model", "setting") if entry[k])
    return f"{entry['strategy']} ({where})"


def _verdicts(entry: dict[str, Any], row: dict[str, Any] | None, name: str) -> list[Verdict]:
    seeds = float(entry["n_seeds"])
    if row is None:
        return [Verdict(name, "seeds", seeds, 0.0, 0.0, False, "no finished runs")]
    out = []
    if row["n_seeds"] < seeds:
        out.append(Verdict(name, "seeds", seeds, float(row["n_seeds"]), 0.0, False, "fewer finished seeds"))
    for fig in FIGURES:
        want, tol, now = float(entry[fig]), float(entry["tolerance"][fig]), float(row[f"{fig}_mean"])
        ok = not math.isnan(now) and now >= want - tol
        note = "regressed" if not ok else ("above the anchor's tolerance" if now > want + tol else "")
        out.append(Verdict(name, fig, want, now, tol, ok, note))
    return out


def check(summary: pd.DataFrame, anchor: dict[str, Any]) -> list[Verdict]:
    """Compare ``summary`` with ``anchor``: one verdict per anchored figure (and per missing seed count)."""
    rows = {tuple(str(r[k]) for k in IDENTITY): r for r in summary.to_dict("records")}
    entries = anchor["entries"]
    several = len({tuple(e[k] for k in ("dataset", "model", "setting")) for e in entries}) > 1
    verdicts = []
    for entry in entries:
        row = rows.get(tuple(str(entry[k]) for k in IDENTITY))
        verdicts += _verdicts(entry, row, _name(entry, several))
    return verdicts
