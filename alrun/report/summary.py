"""Per-run figures and their summary per (dataset, model, setting, strategy) over seeds.

Columns of the summary (``summary.csv``): the identity columns, ``n_seeds``, ``seeds``,
``final_acc_mean``/``_std``, ``aubc_mean``/``_std`` (std over seeds, ddof=1), for each target t
``labels_to_<t>_median`` (a seed that never reaches t counts as infinitely many labels) and
``labels_to_<t>_reached``, and for each figure f in (aubc, final_acc) the paired difference to
``random`` at the seeds both have: ``<f>_vs_random``, ``<f>_vs_random_low``/``_high`` (95% t
interval) and ``n_paired``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from alrun.report.runs import IDENTITY
from alrun.report.stats import aubc, labels_to_target, paired_difference

BASELINE = "random"
FIGURES: tuple[str, ...] = ("aubc", "final_acc")
PANEL: list[str] = ["dataset", "model", "setting"]


def target_column(target: float) -> str:
    """Per-run column name of the labels needed to reach ``target``."""
    return f"labels_to_{target:g}"


def run_figures(rounds: pd.DataFrame, budgets: pd.Series, targets: list[float]) -> pd.DataFrame:
    """One row per run: identity, seed, ``final_acc``, ``aubc`` and the labels to each target.

    Args:
        rounds: tidy (run, round) rows of complete runs.
        budgets: each run's budget, indexed by ``path`` (NaN when unknown).
        targets: accuracies to reach.
    """
    columns = ["path", *IDENTITY, "seed", *FIGURES, *map(target_column, targets)]
    if rounds.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for path, run in rounds.sort_values(["path", "round"]).groupby("path", sort=True):
        x, y = run["n_labelled"].to_numpy(float), run["test/acc"].to_numpy(float)
        budget = budgets.get(path)
        row: dict[str, Any] = {k: run[k].iloc[0] for k in ("path", *IDENTITY, "seed")}
        row |= {"final_acc": y[-1], "aubc": aubc(x, y, None if pd.isna(budget) else float(budget))}
        row |= {target_column(t): labels_to_target(x, y, t) for t in targets}
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def per_run(runs: pd.DataFrame, figures: pd.DataFrame) -> pd.DataFrame:
    """The runs table (``runs.csv``) with each complete run's figures (NaN for the others)."""
    return runs.merge(figures.drop(columns=[*IDENTITY, "seed"]), on="path", how="left")


def _versus_baseline(group: pd.DataFrame, baseline: pd.DataFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fig in FIGURES:
        if baseline is None or group["strategy"].iloc[0] == BASELINE:
            out |= {f"{fig}_vs_random": math.nan, f"{fig}_vs_random_low": math.nan}
            out |= {f"{fig}_vs_random_high": math.nan, "n_paired": 0}
            continue
        pairs = group.set_index("seed")[fig].to_frame("a").join(baseline.set_index("seed")[fig], how="inner")
        diff = paired_difference(pairs["a"], pairs[fig])
        out |= {f"{fig}_vs_random": diff.mean, f"{fig}_vs_random_low": diff.low}
        out |= {f"{fig}_vs_random_high": diff.high, "n_paired": diff.n}
    return out


def _group_row(group: pd.DataFrame, baseline: pd.DataFrame | None, targets: list[float]) -> dict[str, Any]:
    row: dict[str, Any] = {k: group[k].iloc[0] for k in IDENTITY}
    row |= {"n_seeds": len(group), "seeds": " ".join(str(s) for s in sorted(group["seed"].dropna()))}
    for fig in FIGURES:
        row |= {f"{fig}_mean": group[fig].mean(), f"{fig}_std": group[fig].std(ddof=1)}
    for t in targets:
        values = group[target_column(t)]
        row |= {f"{target_column(t)}_median": float(np.median(values))}
        row |= {f"{target_column(t)}_reached": int(np.isfinite(values).sum())}
    return row | _versus_baseline(group, baseline)


def summarise(figures: pd.DataFrame, targets: list[float]) -> pd.DataFrame:
    """The summary table: one row per (dataset, model, setting, strategy), best AUBC first in each panel."""
    rows = []
    for _, panel in figures.groupby(PANEL, sort=True):
        base = panel[panel["strategy"] == BASELINE]
        baseline = base if len(base) else None
        for _, group in panel.groupby("strategy", sort=True):
            rows.append(_group_row(group, baseline, targets))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values([*PANEL, "aubc_mean"], ascending=[True, True, True, False], ignore_index=True)
