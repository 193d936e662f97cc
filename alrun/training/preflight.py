"""Refusals first: what a run's fits cannot honour is refused before anything is written.

:func:`check_fit` runs in the CLI's validation phase. It builds the run's callbacks and a throwaway
Trainer from the composed config (constructing a Trainer writes nothing), so Lightning's own refusals,
a missing GPU, a callback that needs a validation set the run does not have, and a setting the chosen
``fit_mode`` cannot serve all stop the run with one line before its folder is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig

from alrun.config.checks import check_int
from alrun.config.instantiation import instantiate_checked
from alrun.errors import ConfigError
from alrun.launched import check_launcher
from alrun.training.callbacks import BestWeights
from alrun.training.decay import parse_groups
from alrun.training.paths import FitPath, choose
from alrun.training.schedulers import Schedule
from alrun.training.trainers import TrainerFactory, quiet_lightning

# the metrics a fit puts in trainer.callback_metrics, for callbacks to monitor
MONITORS = ("train/loss", "val/acc", "val/loss")
MONITORING = (EarlyStopping, ModelCheckpoint, BestWeights)


def check_monitors(callbacks: Iterable[pl.Callback], val_size: int) -> None:
    """Refuse an EarlyStopping, ModelCheckpoint or BestWeights that monitors a metric the fits do not
    log, or a validation metric without a validation set."""
    for cb in callbacks:
        monitor = getattr(cb, "monitor", None) if isinstance(cb, MONITORING) else None
        if monitor is None:
            continue
        name = type(cb).__name__
        if monitor not in MONITORS:
            allowed = ", ".join(MONITORS)
            raise ConfigError(
                f"{name} monitors {monitor!r}, which alrun does not log (choose from: {allowed})"
            )
        if monitor.startswith("val/") and not val_size:
            raise ConfigError(
                f"{name} monitors {monitor!r}, but val_size=0 gives no validation set "
                "(set val_size > 0, or monitor train/loss)"
            )


def check_recipe(cfg: DictConfig) -> None:
    """The training-recipe settings: ``epoch_samples``, ``weight_decay_groups``, ``scheduler``."""
    if cfg.get("epoch_samples") is not None:
        check_int("epoch_samples", cfg.epoch_samples, 1)
    parse_groups(cfg.get("weight_decay_groups"))
    schedule(cfg)


def schedule(cfg: DictConfig) -> Schedule | None:
    """The run's learning-rate schedule (the ``scheduler`` group), or ``None`` for ``scheduler=none``."""
    return instantiate_checked(cfg.scheduler, "scheduler") if cfg.get("scheduler") else None


def check_fit(cfg: DictConfig, run_dir: Path | None = None) -> FitPath:
    """Refuse what the run's fits cannot honour (a :class:`ConfigError`, one line); return the path
    they take (``fit_path`` and ``fit_path_reason`` in run.json)."""
    quiet_lightning()
    check_recipe(cfg)
    trainer = TrainerFactory.from_config(cfg, run_dir)(0)
    check_monitors(cast(Any, trainer).callbacks, int(cfg.val_size))
    path = choose(trainer, str(cfg.fit_mode))
    check_launcher(path.ranks, int(cast(Any, trainer).num_nodes))
    if path.ranks > 1 and cfg.get("stopping"):
        raise ConfigError(
            f"stopping={list(cfg.stopping)} is not supported with trainer.devices={path.ranks} (each rank "
            "would judge the rules on its own); drop the stopping rules or use one device"
        )
    return path
