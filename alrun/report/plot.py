"""``curves.png``: test accuracy (or the ``--metric`` column) against labels, one line per strategy (mean
over seeds) with a band of ± one std, one panel per (dataset, model, setting)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from alrun.report.summary import BASELINE, DEFAULT_METRIC, PANEL, lower_is_better

PANEL_SIZE = (6.4, 4.6)  # inches
DPI = 100


def _colours(strategies: list[str]) -> dict[str, str]:
    """One colour per strategy, the same in every panel; the random baseline is black."""
    others = [s for s in strategies if s != BASELINE]
    colours = {s: f"C{i % 10}" for i, s in enumerate(others)}
    return colours | {BASELINE: "black"}


def _panel_title(key: tuple[str, ...]) -> str:
    dataset, model, setting = key
    return f"{dataset} · {model}" + (f"\n{setting}" if setting else "")


def _draw_panel(ax: Axes, curves: pd.DataFrame, colours: dict[str, str], metric: str) -> None:
    stats = curves.groupby(["strategy", "n_labelled"])[metric].agg(["mean", "std"]).reset_index()
    seeds = curves.groupby("strategy")["path"].nunique()
    level = stats.groupby("strategy")["mean"].mean()
    for strategy in level.sort_values(ascending=lower_is_better(metric)).index:  # legend: best curve first
        s = stats[stats["strategy"] == strategy].sort_values("n_labelled")
        x, mean, std = s["n_labelled"], s["mean"], s["std"].fillna(0.0)
        style = "--" if strategy == BASELINE else "-"
        label = f"{strategy} ({seeds[strategy]} seed{'s' if seeds[strategy] > 1 else ''})"
        ax.plot(x, mean, style, color=colours[strategy], marker="o", markersize=3, lw=1.6, label=label)
        alpha = (
            0.10 if strategy == BASELINE else 0.18
        )  # a grey band hides the others more than a coloured one
        ax.fill_between(x, mean - std, mean + std, color=colours[strategy], alpha=alpha, lw=0)


def plot_curves(rounds: pd.DataFrame, out: Path, metric: str = DEFAULT_METRIC) -> Path:
    """Write the learning curves of ``metric`` in ``rounds`` (complete runs) to ``out`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(rounds.groupby(PANEL, sort=True))
    cols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * nrows), squeeze=False
    )
    colours = _colours(sorted(rounds["strategy"].unique()))
    for ax, (key, curves) in zip(axes.flat, panels, strict=False):
        _draw_panel(ax, curves, colours, metric)
        ax.set_title(_panel_title(key), fontsize=11)
        ax.set_xlabel("labelled training examples")
        ax.set_ylabel("test accuracy" if metric == DEFAULT_METRIC else metric)
        ax.grid(alpha=0.3)
        ax.legend(
            loc="upper right" if lower_is_better(metric) else "lower right",
            fontsize=9,
            title="mean ± 1 std over seeds",
            title_fontsize=9,
        )
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out
