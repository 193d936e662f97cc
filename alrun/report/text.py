"""The summary as text: formatted cells, ``summary.md`` and the rich terminal tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from alrun.report.summary import BASELINE, DEFAULT_METRIC, lower_is_better, target_column

IDENTITY_HEADERS: tuple[str, ...] = ("dataset", "model", "setting")


def mean_std(mean: float, std: float) -> str:
    """``0.956 ± 0.007`` (the mean alone for one seed)."""
    if math.isnan(mean):
        return "—"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def difference(mean: float, low: float, high: float) -> str:
    """``+0.039 [+0.021, +0.057]``; without an interval for a single pair; ``—`` with none."""
    if math.isnan(mean):
        return "—"
    return f"{mean:+.3f}" if math.isnan(low) else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def labels(median: float, reached: int, n: int) -> str:
    """``120 (5/5)``: median labels to the target, and how many seeds reached it."""
    text = "not reached" if math.isinf(median) else f"{median:.0f}"
    return f"{text} ({reached}/{n})"


def _identity_columns(summary: pd.DataFrame) -> list[str]:
    """dataset/model/setting columns, shown only when they tell the rows apart."""
    return [c for c in IDENTITY_HEADERS if summary[c].nunique() > 1]


def metric_of(summary: pd.DataFrame) -> str:
    """The metric the summary's figures are of."""
    return str(summary["metric"].iloc[0]) if "metric" in summary and len(summary) else DEFAULT_METRIC


def _offset(summary: pd.DataFrame) -> int:
    """What ``--paper-offset`` subtracted from the labels (0 when absent)."""
    return int(summary["label_offset"].iloc[0]) if "label_offset" in summary and len(summary) else 0


def table(summary: pd.DataFrame, targets: list[float]) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted rows of the summary."""
    ident, metric = _identity_columns(summary), metric_of(summary)
    headers = [*ident, "strategy", "seeds"]
    offset = _offset(summary)
    minus = f" (labels - {offset})" if offset else ""
    if metric == DEFAULT_METRIC:
        headers += ["final acc", "AUBC", *(f"labels to {t:g}{minus}" for t in targets)]
    else:
        op = "<=" if lower_is_better(metric) else ">="
        headers += [f"final {metric}", f"AUBC {metric}", *(f"labels to {op} {t:g}{minus}" for t in targets)]
    final = "final acc" if metric == DEFAULT_METRIC else "final"
    headers += [f"Δ AUBC vs {BASELINE} [95% CI]", f"Δ {final} vs {BASELINE} [95% CI]"]
    rows = []
    for d in summary.to_dict("records"):
        cells = [str(d[c]) for c in ident] + [str(d["strategy"]), str(d["n_seeds"])]
        cells += [mean_std(d["final_acc_mean"], d["final_acc_std"]), mean_std(d["aubc_mean"], d["aubc_std"])]
        cells += [
            labels(d[f"{target_column(t)}_median"], d[f"{target_column(t)}_reached"], d["n_seeds"])
            for t in targets
        ]
        cells += [
            difference(d[f"{f}_vs_random"], d[f"{f}_vs_random_low"], d[f"{f}_vs_random_high"])
            for f in ("aubc", "final_acc")
        ]
        rows.append(cells)
    return headers, rows


def problem_rows(runs: pd.DataFrame, root: Path) -> list[list[str]]:
    """``[folder, strategy, seed, problem]`` for every failed, unfinished or duplicate run."""
    out = []
    for d in runs[runs["problem"] != ""].to_dict("records"):
        folder = Path(d["path"])
        shown = folder.relative_to(root) if folder.is_relative_to(root) else folder
        seed = "" if pd.isna(d["seed"]) else str(d["seed"])
        out.append([str(shown) or ".", str(d["strategy"]), seed, str(d["problem"])])
    return out


def stopped_rows(runs: pd.DataFrame, root: Path) -> list[list[str]]:
    """``[folder, strategy, seed, rule, round, reason]`` for every complete run a stopping rule ended."""
    if "stopped_by" not in runs:
        return []
    early = runs[(runs["problem"] == "") & runs["stopped_by"].notna() & (runs["stopped_by"] != "budget")]
    out = []
    for d in early.to_dict("records"):
        folder = Path(d["path"])
        shown = folder.relative_to(root) if folder.is_relative_to(root) else folder
        seed = "" if pd.isna(d["seed"]) else str(d["seed"])
        out.append(
            [str(shown) or ".", str(d["strategy"]), seed, str(d["stopped_by"]), str(int(d["stopped_round"]))]
        )
        out[-1].append(str(d["stopped_reason"]))
    return out


STOPPED_HEADERS = ["folder", "strategy", "seed", "stopped by", "round", "reason"]


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(headers), "|" + "|".join("---" for _ in headers) + "|", *map(line, rows)]


def markdown(summary: pd.DataFrame, runs: pd.DataFrame, root: Path, targets: list[float]) -> str:
    """The text of ``summary.md``; run folders are shown relative to ``root`` (the report's folder)."""
    n_ok = int((runs["problem"] == "").sum())
    lines = ["# alrun report", "", f"{len(runs)} runs, {n_ok} finished and complete.", ""]
    if not summary.empty:
        lines += _md_table(*table(summary, targets))
        settings = sorted(set(summary["setting"]) - {""})
        lines += [""] + ([f"Setting: `{settings[0]}`.", ""] if len(settings) == 1 else [])
        metric = metric_of(summary)
        what = "test accuracy" if metric == DEFAULT_METRIC else f"`{metric}`"
        reach = "falls to t or below" if lower_is_better(metric) else "first reaches t"
        lines += [
            f"final, AUBC: mean ± std over seeds. AUBC: trapezoid of {what} over labels from the "
            "initial set to the end of the budget, divided by the budget (DeepAL+ `get_aubc`; a run "
            "stopped early: over the labels it spent). "
            f"labels to t: median over seeds of the labelled training items (the initial set included, "
            f"validation labels not) at the first evaluated round at which {what} {reach} "
            "(seeds that reached it / seeds)"
            + (f"; minus {offset} (--paper-offset). " if (offset := _offset(summary)) else ". ")
            + f"Δ vs {BASELINE}: mean paired difference over the seeds both ran, with a 95% t interval.",
        ]
    stopped = stopped_rows(runs, root)
    if stopped:
        lines += ["", f"## Runs stopped early ({len(stopped)})", ""]
        lines += _md_table(STOPPED_HEADERS, stopped)
    problems = problem_rows(runs, root)
    if problems:
        lines += ["", f"## Failed or unfinished runs ({len(problems)})", ""]
        lines += _md_table(["folder", "strategy", "seed", "problem"], problems)
    return "\n".join(lines) + "\n"
