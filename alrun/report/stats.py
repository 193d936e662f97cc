"""The figures of a learning curve and of a comparison between strategies (pure functions).

* AUBC, DeepAL+'s ``get_aubc``: the trapezoid of test accuracy over the number of labels, from the
  initial point to the end of the budget (a partial last round counts with its true width), divided
  by the budget. DeepAL+ rounds it to 3 decimals; here it is kept exact and rounded when printed.
* Labels to a target accuracy: the first labelled-set size at which the curve reaches the target.
* The paired difference of two strategies over the same seeds, with a t confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def aubc(n_labelled: Sequence[float], acc: Sequence[float], budget: float | None = None) -> float:
    """Area under the budget curve (DeepAL+ ``get_aubc`` without its rounding).

    Args:
        n_labelled: labels each point of the curve was trained on, increasing, the initial set first.
        acc: the accuracy at each point.
        budget: labels acquired after the initial set; defaults to the curve's own span
            (``n_labelled[-1] - n_labelled[0]``, the same number for a complete run).

    Returns:
        The mean accuracy over the budget, in [0, 1] for accuracies in [0, 1]; NaN for fewer than 2 points.
    """
    x = np.asarray(n_labelled, dtype=np.float64)
    y = np.asarray(acc, dtype=np.float64)
    if len(x) < 2:
        return math.nan
    span = float(budget) if budget else float(x[-1] - x[0])
    return float(np.trapezoid(y, x) / span)


def labels_to_target(
    n_labelled: Sequence[float], acc: Sequence[float], target: float, lower: bool = False
) -> float:
    """The first ``n_labelled`` whose accuracy is at least ``target`` (at most, with ``lower``: a
    metric where lower is better, such as a loss); ``inf`` if it never gets there."""
    for n, a in zip(n_labelled, acc, strict=True):
        if (a <= target) if lower else (a >= target):
            return float(n)
    return math.inf


@dataclass(frozen=True)
class PairedDiff:
    """Mean of paired differences ``a - b`` and its two-sided confidence interval.

    Attributes:
        mean: mean difference (NaN with no pairs).
        low: lower end of the interval (NaN with fewer than 2 pairs).
        high: upper end of the interval.
        n: number of pairs.
    """

    mean: float
    low: float
    high: float
    n: int


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedDiff:
    """Mean of ``a[i] - b[i]`` with Student's t interval over the pairs (scipy's t quantile).

    Args:
        a: one figure per seed for the strategy.
        b: the same figure at the same seeds for the baseline.
        level: confidence level of the interval.
    """
    from scipy import stats

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(d)
    if n == 0:
        return PairedDiff(math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if n < 2:
        return PairedDiff(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return PairedDiff(mean, mean - half, mean + half, n)
