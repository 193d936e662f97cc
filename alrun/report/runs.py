"""Find run folders and load them into two tidy tables: one row per run, one row per (run, round).

A run folder holds ``metrics.csv`` and/or ``run.json``. Its identity comes from Hydra's record of
the run in ``.hydra/``: the chosen ``dataset``, ``model`` and ``strategy`` options
(``hydra.runtime.choices``), and the ``setting``: the job's other command-line overrides, so that
runs with different budgets or experiments are never averaged together. Overrides of a group's own
keys (``strategy.temperature=2``) become part of that group's label (``entropy[temperature=2]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alrun.config.checks import NON_RESULT_KEYS

IDENTITY: tuple[str, ...] = ("dataset", "model", "setting", "strategy")
LABELLED_GROUPS: tuple[str, ...] = ("dataset", "model", "strategy")
NOT_IN_SETTING: frozenset[str] = frozenset({"seed"}) | NON_RESULT_KEYS  # seeds are averaged
REQUIRED_COLUMNS: tuple[str, ...] = ("round", "n_labelled", "test/acc")
SKIPPED_PARTS: frozenset[str] = frozenset({".hydra", ".submitit"})
UNKNOWN = "?"


class ReportError(Exception):
    """Bad input to ``alrun-report`` (a missing path, no runs, an unreadable anchor): one line, exit 2."""


@dataclass
class Runs:
    """The loaded runs.

    Attributes:
        runs: one row per run folder: ``path``, the identity columns, ``seed``, ``status``, ``budget``,
            ``rows``, ``expected_rows``, ``stopped_by``, ``stopped_round`` and ``stopped_reason`` (the
            rule that ended the run, ``budget`` when it spent its budget, the last round, why) and
            ``problem`` (empty for a finished, complete run).
        rounds: one row per (run, round) of every run with a readable ``metrics.csv``: ``path``, the
            identity columns, ``seed`` and every column of ``metrics.csv`` (extra columns are kept).
    """

    runs: pd.DataFrame
    rounds: pd.DataFrame

    @property
    def complete(self) -> pd.DataFrame:
        """The rounds of finished, complete runs only: what the summary and the plot use."""
        good = self.runs.loc[self.runs["problem"] == "", "path"]
        return self.rounds[self.rounds["path"].isin(good)]


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Every folder under ``paths`` (themselves included) that holds ``metrics.csv`` or ``run.json``,
    except those inside another (a logger's ``csv/metrics.csv``, ``lightning_logs/``: not runs)."""
    found: set[Path] = set()
    for root in paths:
        if not root.is_dir():
            raise ReportError(f"{root}: no such folder")
        for name in ("metrics.csv", "run.json"):
            found.update(f.parent for f in root.rglob(name) if not SKIPPED_PARTS & set(f.parts))
    return sorted(f for f in found if not found.intersection(f.parents))


def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def _override_key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def identity(folder: Path) -> dict[str, str]:
    """The run's dataset, model, strategy and setting from ``.hydra/hydra.yaml`` (``?`` when absent)."""
    hydra = _yaml(folder / ".hydra" / "hydra.yaml").get("hydra") or {}
    choices = (hydra.get("runtime") or {}).get("choices") or {}
    overrides = (hydra.get("overrides") or {}).get("task") or []
    params: dict[str, list[str]] = {group: [] for group in LABELLED_GROUPS}
    setting: list[str] = []
    for line in map(str, overrides):
        key = _override_key(line)
        group = key.split(".", 1)[0].split("@", 1)[0]  # strategy@strategy.base=... is the strategy's
        if group in params and key != group:
            params[group].append(line.split(".", 1)[1])
        elif key not in params and key not in NOT_IN_SETTING:
            setting.append(line)
    ident = {"setting": ",".join(sorted(setting))}
    for group, extra in params.items():
        label = str(choices.get(group, UNKNOWN))
        ident[group] = f"{label}[{','.join(sorted(extra))}]" if extra else label
    return ident


def _run_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"status": "unreadable run.json"}
    return info if isinstance(info, dict) else {"status": "unreadable run.json"}


def _metrics(folder: Path) -> tuple[pd.DataFrame | None, str]:
    path = folder / "metrics.csv"
    if not path.is_file():
        return None, "no metrics.csv"
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return None, f"unreadable metrics.csv ({type(exc).__name__})"
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        return None, f"metrics.csv lacks {', '.join(missing)}"
    return frame, ""


def _stopped(info: dict[str, Any]) -> dict[str, Any]:
    stop = info.get("stopped")
    if not isinstance(stop, dict):
        stop = {}
    return {
        "stopped_by": stop.get("by"),
        "stopped_round": stop.get("round"),
        "stopped_reason": stop.get("reason"),
    }


def _expected_rows(info: dict[str, Any], cfg: dict[str, Any]) -> int | None:
    stop = _stopped(info)
    if stop["stopped_by"] not in (None, "budget") and isinstance(stop["stopped_round"], int):
        return int(stop["stopped_round"]) + 1  # stopped early: its last round is the last row
    if isinstance(info.get("n_rounds"), int):
        return int(info["n_rounds"]) + 1
    budget, size = cfg.get("budget"), cfg.get("query_size")
    if isinstance(budget, int) and isinstance(size, int) and size > 0:
        return math.ceil(budget / size) + 1
    return None


def _problem(status: str, reason: Any, frame: pd.DataFrame | None, why: str, expected: int | None) -> str:
    if status != "finished":
        return status if not reason else f"{status}: {reason}"
    if frame is None:
        return why
    if expected is not None and len(frame) < expected:
        return f"unfinished: {len(frame)} of {expected} rounds"
    if frame["test/acc"].isna().any():
        return "test/acc is blank in some rounds"
    return ""


def load_run(folder: Path) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """One run's row for the runs table, and its metrics (None when unreadable)."""
    cfg = _yaml(folder / ".hydra" / "config.yaml")
    info = _run_json(folder / "run.json")
    status = str(info.get("status", "no run.json"))
    frame, why = _metrics(folder)
    expected = _expected_rows(info, cfg)
    seed = cfg.get("seed", info.get("seed"))
    row = {"path": str(folder), **identity(folder), "seed": seed, "status": status}
    row |= {"budget": cfg.get("budget"), "rows": 0 if frame is None else len(frame)} | _stopped(info)
    row |= {"expected_rows": expected, "problem": _problem(status, info.get("reason"), frame, why, expected)}
    return row, frame


def mark_duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """Of complete runs with the same identity and seed (the same job run twice), keep the last by
    path (the newest in outputs/<date>/<time>/) and list the others as duplicates."""
    good = runs[runs["problem"] == ""]
    dup = good.sort_values("path").duplicated([*IDENTITY, "seed"], keep="last")
    runs = runs.copy()
    runs.loc[dup[dup].index, "problem"] = "duplicate: a later run has the same setting and seed"
    return runs


def load_runs(paths: list[Path]) -> Runs:
    """Load every run folder found under ``paths``."""
    folders = find_run_dirs(paths)
    if not folders:
        raise ReportError(f"no run folders (metrics.csv or run.json) under {', '.join(map(str, paths))}")
    rows, frames = [], []
    for folder in folders:
        row, frame = load_run(folder)
        rows.append(row)
        if frame is not None:
            keys = {k: row[k] for k in ("path", *IDENTITY, "seed")}
            frames.append(frame.assign(**keys)[[*keys, *frame.columns]])
    runs = mark_duplicates(pd.DataFrame(rows))
    # a header-only metrics.csv (a run just started) has no rounds, and its text columns must not
    # turn the others' numbers into text
    rounds = pd.concat(
        [f for f in frames if len(f)] or frames[:1] or [pd.DataFrame(columns=["path", *IDENTITY])],
        ignore_index=True,
    )
    return Runs(runs=runs, rounds=rounds)
