"""Learning-rate schedules (the ``scheduler`` config group), built afresh for every fit.

A :class:`Schedule` wraps a partial ``torch.optim.lr_scheduler`` class with Lightning's stepping
interval; ``configure_optimizers`` returns Lightning's ``{"optimizer", "lr_scheduler"}`` dict, so
Lightning's loop steps it, and the fast path steps it at exactly the same points (after every
``frequency``-th optimizer step, or after every ``frequency``-th epoch's last step).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch

from alrun.config.checks import check_int
from alrun.errors import ConfigError

INTERVALS = ("epoch", "step")


class Schedule:
    """A learning-rate scheduler for each fit.

    Args:
        scheduler: a partial scheduler class, completed with the fit's optimizer
            (``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max`` bound, ...).
        interval: ``epoch`` or ``step``: what one ``scheduler.step()`` follows.
        frequency: step the scheduler every ``frequency`` intervals.

    A scheduler that takes ``total_steps`` (``OneCycleLR``) and is given none (or null) gets the fit's
    ``trainer.estimated_stepping_batches``.
    """

    def __init__(self, scheduler: Callable[..., Any], interval: str = "epoch", frequency: int = 1) -> None:
        if interval not in INTERVALS:
            raise ConfigError(f"scheduler.interval={interval!r} is not allowed (choose from: epoch, step)")
        self.frequency = check_int("scheduler.frequency", frequency, 1)
        self.scheduler, self.interval = scheduler, interval
        func = scheduler.func if isinstance(scheduler, functools.partial) else scheduler
        bound = scheduler.keywords if isinstance(scheduler, functools.partial) else {}
        try:
            params = inspect.signature(func).parameters
            self.wants_total = "total_steps" in params and bound.get("total_steps") is None
            inspect.signature(func).bind_partial(None, **bound)
        except TypeError as exc:
            raise ConfigError(f"scheduler.scheduler: {exc}") from None

    def build(
        self, optimizer: torch.optim.Optimizer, total_steps: Callable[[], int | float]
    ) -> dict[str, Any]:
        """Lightning's scheduler config for ``optimizer``; ``total_steps`` is asked only when needed."""
        extra = {"total_steps": int(total_steps())} if self.wants_total else {}
        return {
            "scheduler": self.scheduler(optimizer, **extra),
            "interval": self.interval,
            "frequency": self.frequency,
        }
