"""alrun's Lightning callbacks: best-weights restore, and the guard of a fit's seeded RNG scope.

Both use only fit- and epoch-level hooks, so both fit paths serve them (see :mod:`alrun.training.paths`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn

from alrun.errors import ConfigError

MODES = {"min": torch.lt, "max": torch.gt}


class BestWeights(pl.Callback):
    """At the end of each fit, put back the weights of the validation epoch with the best ``monitor``.

    The weights are copied in memory after every validation that improves on the best so far
    (strictly: a tie keeps the earlier epoch) and loaded into the module when training ends; a fit
    that never validated keeps its last weights. The BatchBALD recipe (Kirsch et al. 2019) pairs it
    with early stopping on ``val/acc``.

    Args:
        monitor: a validation metric, ``val/loss`` or ``val/acc``.
        mode: ``min`` (lower is better) or ``max``.
    """

    def __init__(self, monitor: str = "val/loss", mode: str = "min") -> None:
        if not monitor.startswith("val/"):
            raise ConfigError(
                f"best_weights.monitor={monitor!r} is not allowed (a validation metric: val/acc or val/loss)"
            )
        if mode not in MODES:
            raise ConfigError(f"best_weights.mode={mode!r} is not allowed (choose from: min, max)")
        self.monitor, self.mode = monitor, mode
        self.best_score: torch.Tensor | None = None
        self.best_epoch: int | None = None
        self._weights: dict[str, torch.Tensor] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Forget any earlier fit's best."""
        self.best_score, self.best_epoch, self._weights = None, None, None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Keep a copy of the weights when the monitored metric improved."""
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        current = trainer.callback_metrics.get(self.monitor)
        if current is None:
            raise ConfigError(
                f"best_weights: no {self.monitor!r} after validation (is there a validation set?)"
            )
        current = current.detach().double().cpu()
        if self.best_score is None or bool(MODES[self.mode](current, self.best_score)):
            self.best_score, self.best_epoch = current, trainer.current_epoch
            self._weights = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Load the best epoch's weights."""
        if self._weights is not None:
            pl_module.load_state_dict(self._weights)

    def state_dict(self) -> dict[str, Any]:
        """The best score and epoch (not the weights) for Lightning's checkpoints."""
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}


class RngScopeGuard(pl.Callback):
    """Closes a fit's seeded RNG scope when the fit raises (NaN loss, Ctrl-C, out of memory):
    Lightning calls the callbacks' ``on_exception``, not the module's.

    Args:
        close: leaves the scope (idempotent).
    """

    def __init__(self, close: Callable[[], None]) -> None:
        self.close = close

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Give the global RNG back its state from before the fit."""
        self.close()
