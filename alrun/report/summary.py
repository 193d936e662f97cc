"""Per-run figures and their summary per (dataset, model, setting, strategy) over seeds.

The figures are of one metric column of ``metrics.csv``, ``test/acc`` unless ``alrun-report --metric``
names another (``test/macro_f1``, ``val/acc``, ``test/ece``, ...); ``final_acc`` and ``aubc`` then hold
that metric's last value and area, and the ``metric`` column says which. For a metric where lower is
better (a ``loss``, ``ece``), a target t is reached at the first value <= t and the best AUBC is the lowest.

Columns of the summary (``summary.csv``): the identity columns, ``metric``, ``n_seeds``, ``seeds``,
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

from alrun.report.runs import IDENTITY, ReportError, Runs
from alrun.report.stats import aubc, labels_to_target, paired_difference

BASELINE = "random"
FIGURES: tuple[str, ...] = ("aubc", "final_acc")
PANEL: list[str] = ["dataset", "model", "setting"]
DEFAULT_METRIC = "test/acc"
LOWER_IS_BETTER: tuple[str, ...] = ("loss", "ece")  # metric names (after the split's "/") to minimise


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (``test/loss``, ``val/ece``)."""
    return metric.rsplit("/", 1)[-1] in LOWER_IS_BETTER


def check_targets(targets: list[float], metric: str) -> None:
    """Targets are values of ``metric`` in (0, 1] (any positive number for a loss)."""
    loss = metric.endswith("loss")
    if any(not (0 < t <= 1 or (loss and 0 < t < math.inf)) for t in targets):
        allowed = "numbers > 0" if loss else "values in (0, 1]"
        raise ReportError(f"--target {targets} is not allowed for {metric} (allowed: {allowed})")


def check_metric(loaded: Runs, metric: str) -> None:
    """``metric`` is a column of the runs' ``metrics.csv`` with a value in the complete runs."""
    if metric not in loaded.rounds.columns:
        known = [c for c in loaded.rounds.columns if "/" in str(c)]
        raise ReportError(f"--metric {metric}: not a column of metrics.csv (columns: {', '.join(known)})")
    complete = loaded.complete
    if not complete.empty and complete[metric].isna().all():
        hint = " (validation metrics need val_size > 0)" if metric.startswith("val/") else ""
        raise ReportError(f"--metric {metric}: blank in every complete run{hint}")


def figure_budgets(runs: pd.DataFrame) -> pd.Series:
    """Each run's budget by ``path``, NaN for a run stopped early (its AUBC spans what it spent)."""
    early = runs["stopped_by"].fillna("budget") != "budget"
    return runs["budget"].where(~early).set_axis(runs["path"])


def target_column(target: float) -> str:
    """Per-run column name of the labels needed to reach ``target``."""
    return f"labels_to_{target:g}"


def run_figures(
    rounds: pd.DataFrame,
    budgets: pd.Series,
    targets: list[float],
    metric: str = DEFAULT_METRIC,
    offset: int = 0,
) -> pd.DataFrame:
    """One row per run: identity, seed, ``final_acc``, ``aubc`` and the labels to each target.

    Args:
        rounds: tidy (run, round) rows of complete runs.
        budgets: each run's budget, indexed by ``path`` (NaN when unknown, or for a run stopped early:
            its AUBC is then taken over the labels it spent).
        targets: values of ``metric`` to reach.
        metric: the ``metrics.csv`` column the figures are of.
        offset: subtracted from the labels to each target (``--paper-offset``: BatchBALD's Table 1
            counts the labels minus one acquisition of b).
    """
    columns = ["path", *IDENTITY, "seed", *FIGURES, *map(target_column, targets)]
    if rounds.empty:
        return pd.DataFrame(columns=columns)
    rows, lower = [], lower_is_better(metric)
    for path, run in rounds.sort_values(["path", "round"]).groupby("path", sort=True):
        x, y = run["n_labelled"].to_numpy(float), run[metric].to_numpy(float)
        budget = budgets.get(path)
        row: dict[str, Any] = {k: run[k].iloc[0] for k in ("path", *IDENTITY, "seed")}
        row |= {"final_acc": y[-1], "aubc": aubc(x, y, None if pd.isna(budget) else float(budget))}
        row |= {target_column(t): labels_to_target(x, y, t, lower) - offset for t in targets}
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


def _group_row(
    group: pd.DataFrame, baseline: pd.DataFrame | None, targets: list[float], metric: str, offset: int
) -> dict[str, Any]:
    row: dict[str, Any] = {k: group[k].iloc[0] for k in IDENTITY} | {"metric": metric, "label_offset": offset}
    row |= {"n_seeds": len(group), "seeds": " ".join(str(s) for s in sorted(group["seed"].dropna()))}
    for fig in FIGURES:
        row |= {f"{fig}_mean": group[fig].mean(), f"{fig}_std": group[fig].std(ddof=1)}
    for t in targets:
        values = group[target_column(t)]
        row |= {f"{target_column(t)}_median": float(np.median(values))}
        row |= {f"{target_column(t)}_{f}": float(getattr(values, f)()) for f in ("min", "max")}
        row |= {f"{target_column(t)}_reached": int(np.isfinite(values).sum())}
    return row | _versus_baseline(group, baseline)


def summarise(
    figures: pd.DataFrame, targets: list[float], metric: str = DEFAULT_METRIC, offset: int = 0
) -> pd.DataFrame:
    """The summary table: one row per (dataset, model, setting, strategy), best AUBC first in each panel
    (``offset``: what :func:`run_figures` subtracted from the labels, recorded as ``label_offset``)."""
    rows = []
    for _, panel in figures.groupby(PANEL, sort=True):
        base = panel[panel["strategy"] == BASELINE]
        baseline = base if len(base) else None
        for _, group in panel.groupby("strategy", sort=True):
            rows.append(_group_row(group, baseline, targets, metric, offset))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    best_first = lower_is_better(metric)
    return table.sort_values(
        [*PANEL, "aubc_mean"], ascending=[True, True, True, best_first], ignore_index=True
    )
