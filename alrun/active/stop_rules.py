"""The stopping rules (``configs/stopping/*.yaml``), each checked after a round's evaluation:

* :class:`TargetAccuracy` (``target_val_acc``): a validation metric reached a target;
* :class:`StablePredictions` (``stable_predictions``, Bloodgood & Vijay-Shanker 2009): Cohen's kappa
  between successive rounds' predictions on a fixed, seeded stop set of unlabelled items stayed at or
  above a threshold for ``window`` rounds;
* :class:`LowUncertainty` (``low_uncertainty``): the mean score of the last query fell below a threshold;
* :class:`WallTime` (``wall_time``): the run's time reached a limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from alrun.active.stopping import RoundView, StopRule
from alrun.active.strategy import Strategy
from alrun.config.checks import check_int, check_number
from alrun.errors import ConfigError
from alrun.training.inference import predict

VAL_METRICS = ("val/acc", "val/balanced_acc", "val/macro_f1")


class TargetAccuracy(StopRule):
    """Stop once ``metric`` (a validation metric, never a test one) is at least ``target``.

    Args:
        target: the value to reach, in (0, 1].
        metric: ``val/acc``, ``val/balanced_acc`` or ``val/macro_f1``.
    """

    def __init__(self, target: float = 0.9, metric: str = "val/acc") -> None:
        self.target = check_number("stopping.target_val_acc.target", target, 0.0, strict=True)
        if self.target > 1:
            raise ConfigError(f"stopping.target_val_acc.target={target} is out of range (allowed: (0, 1])")
        if metric not in VAL_METRICS:
            allowed = ", ".join(VAL_METRICS)
            raise ConfigError(
                f"stopping.target_val_acc.metric={metric!r} is not allowed (choose from: {allowed})"
            )
        self.metric = metric

    def setup(self, strategy: Strategy, name: str) -> None:
        """Refuse a run without a validation set."""
        if strategy.val_pool is None:
            raise ConfigError(
                f"stopping={name} watches {self.metric}, which needs a validation set (set val_size > 0)"
            )

    def check(self, view: RoundView) -> str | None:
        """Stop when the round's validation metric reached the target."""
        value = float(view.row.get(self.metric, math.nan))
        return f"{self.metric} = {value:.4f} >= {self.target:g}" if value >= self.target else None


def cohen_kappa(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cohen's kappa of two label vectors; 1 when both give one and the same label everywhere
    (``p_e = 1``: scikit-learn's formula divides by zero there; small-text returns 1 as well)."""
    n_classes = int(max(a.max(), b.max())) + 1 if len(a) else 1
    p_a = torch.bincount(a, minlength=n_classes).double() / len(a)
    p_b = torch.bincount(b, minlength=n_classes).double() / len(b)
    observed, expected = (a == b).double().mean().item(), float(p_a @ p_b)
    return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


class StablePredictions(StopRule):
    """Stop when the model's predictions on a stop set have stabilised (Bloodgood & Vijay-Shanker 2009).

    The stop set is ``stop_set_size`` items drawn (stream ``stop_set``) from the items unlabelled at
    the first check, kept for the whole run. Each round the current model predicts it; ``stop/kappa``
    is Cohen's kappa with the previous round's predictions. The run stops once each of the last
    ``window`` kappas is ``>= threshold`` (``average: true``: their mean, small-text's ``KappaAverage``).

    Args:
        threshold: kappa to reach (the paper's 0.99).
        window: consecutive kappas (the paper's 3).
        stop_set_size: items in the stop set (all unlabelled items when fewer).
        average: compare the mean of the last ``window`` kappas instead of each.
    """

    def __init__(
        self, threshold: float = 0.99, window: int = 3, stop_set_size: int = 1000, average: bool = False
    ) -> None:
        self.threshold = check_number("stopping.stable_predictions.threshold", threshold)
        self.window = check_int("stopping.stable_predictions.window", window, 1)
        self.size = check_int("stopping.stable_predictions.stop_set_size", stop_set_size, 1)
        self.average = bool(average)
        self.stop_set: torch.Tensor | None = None
        self.previous: torch.Tensor | None = None
        self.kappas: list[float] = []
        self.kappa = math.nan

    def _draw(self, strategy: Strategy) -> torch.Tensor:
        unlabelled = torch.from_numpy(strategy.train_pool.unlabelled())
        pick = torch.randperm(len(unlabelled), generator=strategy.streams.torch("stop_set"))[: self.size]
        return unlabelled[pick].sort().values

    def check(self, view: RoundView) -> str | None:
        """Predict the stop set, add this round's kappa, and stop once the window is stable."""
        strategy = view.strategy
        if self.stop_set is None:
            self.stop_set = self._draw(strategy)
        x = strategy.train_pool.data.x
        labels = predict(strategy.net.eval(), x[self.stop_set.to(x.device)], strategy.eval_batch_size)
        kappa = self.kappa = math.nan if self.previous is None else cohen_kappa(self.previous, labels)
        self.previous = labels
        if not math.isnan(kappa):
            self.kappas.append(kappa)
        last = self.kappas[-self.window :]
        if len(last) < self.window:
            return None
        stable = sum(last) / len(last) >= self.threshold if self.average else min(last) >= self.threshold
        how = "mean of the last" if self.average else "each of the last"
        return (
            f"stop-set kappa >= {self.threshold:g} ({how} {self.window} rounds; now {kappa:.4f})"
            if stable
            else None
        )

    def values(self) -> dict[str, float]:
        """``stop/kappa`` of this round (blank at the first check)."""
        return {"stop/kappa": self.kappa}

    def state_dict(self) -> dict[str, Any]:
        """Stop set, last predictions and kappas so far."""
        return {"stop_set": self.stop_set, "previous": self.previous, "kappas": list(self.kappas)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.stop_set, self.previous = state.get("stop_set"), state.get("previous")
        self.kappas = [float(k) for k in state.get("kappas", [])]


class LowUncertainty(StopRule):
    """Stop when the mean score of the last query is below ``threshold`` (baal's
    ``LowAverageUncertaintyStoppingCriterion``); in the strategy's own units (scores: higher = more
    informative), so the threshold is per strategy.

    Args:
        threshold: the mean score under which the run stops.
        over: ``batch`` (the queried items' scores, ``query/score_mean``) or ``pool`` (every scored
            candidate's, ``query/pool_score_mean``).
    """

    def __init__(self, threshold: float = 0.01, over: str = "batch") -> None:
        self.threshold = check_number("stopping.low_uncertainty.threshold", threshold)
        if over not in ("batch", "pool"):
            raise ConfigError(
                f"stopping.low_uncertainty.over={over!r} is not allowed (choose from: batch, pool)"
            )
        self.column = "query/score_mean" if over == "batch" else "query/pool_score_mean"

    def check(self, view: RoundView) -> str | None:
        """Stop when the previous round's query scored below the threshold on average."""
        value = float(view.last_query.get(self.column, math.nan))
        return (
            f"{self.column} of the last query = {value:.4g} < {self.threshold:g}"
            if value < self.threshold
            else None
        )


class WallTime(StopRule):
    """Stop once the run's time (:attr:`RoundView.elapsed_s`) reached ``max_seconds``.

    Args:
        max_seconds: the limit, > 0.
    """

    def __init__(self, max_seconds: float = 3600.0) -> None:
        self.max_seconds = check_number("stopping.wall_time.max_seconds", max_seconds, 0.0, strict=True)

    def check(self, view: RoundView) -> str | None:
        """Stop when the time so far reached the limit."""
        if view.elapsed_s >= self.max_seconds:
            return f"{view.elapsed_s:.1f} s >= max_seconds {self.max_seconds:g}"
        return None
