"""The run's logger (the ``logger`` config group): one Lightning ``Logger`` for the whole experiment.

Every round's row (``round``, ``n_labelled``, the test, validation, training and query metrics, the
timings) is logged at step ``n_labelled``; every training epoch's ``epoch/train/loss`` (and
``epoch/val/*`` after a validation, ``epoch/round``) at step = the run's epoch count so far; the
resolved config once, as hyperparameters. Its files go inside the run folder (alrun sets
``save_dir``, or MLflow's ``tracking_uri``); a resumed run appends to them (:mod:`alrun.run.logged`).

Epochs reach the logger through :class:`EpochLog`, a callback with epoch-level hooks only, so both
fit paths serve it (the fast path calls them after every real epoch, :mod:`alrun.training.fast`).
The rounds' Trainers get no logger of their own (``trainer.logger`` logs each fit on its own).
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.utils import get_class
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from alrun.errors import ConfigError
from alrun.run import logged

INSTALL = "pip install -e '.[loggers]'"
# logger class -> (its config option, the packages it needs (any one), how to install them)
KNOWN: dict[type, tuple[str, tuple[str, ...], str]] = {
    CSVLogger: ("csv", (), ""),
    TensorBoardLogger: ("tensorboard", ("tensorboard", "tensorboardX"), INSTALL),
    MLFlowLogger: ("mlflow", ("mlflow",), INSTALL),
    WandbLogger: ("wandb", ("wandb",), "pip install wandb"),
}
UNSEEN = ("log_graph", "log_model")  # only a Trainer's own logger gets the model and its checkpoints
PLACED = {"save_dir", "tracking_uri", "dir", "root_dir"}  # alrun puts these in the run folder
WANDB = (
    "logger=wandb is not supported (alrun cannot read wandb's offline files back, so a resumed run "
    f"could log a step twice); use logger=tensorboard or logger=mlflow ({INSTALL})"
)


def logger_settings(cfg: DictConfig) -> dict[str, Any] | None:
    """The ``logger`` node as plain settings, or ``None`` for ``logger=none``."""
    node = cfg.get("logger")
    if not node:
        return None
    settings = OmegaConf.to_container(node, resolve=True)
    if not isinstance(settings, dict) or "_target_" not in settings:
        raise ConfigError("logger: not a _target_ node (choose an option: logger=csv, tensorboard, mlflow)")
    return {str(k): v for k, v in settings.items()}


def logger_class(settings: Mapping[str, Any]) -> type:
    """The Lightning ``Logger`` class the settings name."""
    try:
        cls = get_class(str(settings["_target_"]))
    except Exception as exc:
        raise ConfigError(f"logger._target_={settings['_target_']!r} cannot be imported ({exc})") from None
    if not issubclass(cls, Logger):
        raise ConfigError(f"logger._target_: {cls.__name__} is not a lightning.pytorch.loggers.Logger")
    return cls


def check_logger(cfg: DictConfig) -> None:
    """Refuse a logger alrun cannot run as configured, before anything is written: a missing package,
    a wandb logger, a file location of the user's, a setting the class has not, or a second logger."""
    settings = logger_settings(cfg)
    if settings is None:
        return
    cls = logger_class(settings)
    option, packages, install = next((v for k, v in KNOWN.items() if issubclass(cls, k)), ("", (), ""))
    if issubclass(cls, WandbLogger):
        raise ConfigError(WANDB)
    if packages and not any(importlib.util.find_spec(p) for p in packages):
        raise ConfigError(
            f"logger={option} needs the {packages[0]} package, which is not installed ({install}); "
            "or use logger=csv"
        )
    placed = sorted(PLACED & set(settings))
    if placed:
        raise ConfigError(f"logger.{placed[0]} is set by alrun: the logger writes inside the run folder")
    if cfg.trainer.get("logger"):
        raise ConfigError(
            f"trainer.logger and logger={option or settings['_target_']}: one logger per run; "
            "remove trainer.logger"
        )
    unseen = sorted(k for k in UNSEEN if settings.get(k))
    if unseen:
        raise ConfigError(f"logger.{unseen[0]}: the run's logger sees no model or checkpoint; remove it")
    kwargs = {k: v for k, v in settings.items() if not k.startswith("_")}
    try:
        inspect.signature(cls).bind_partial(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"logger: {exc} ({cls.__name__})") from None


def build_logger(settings: Mapping[str, Any], run_dir: Path) -> Logger:
    """The logger, with its files in ``run_dir`` (this writes: call it once the run has started)."""
    cls = logger_class(settings)
    kwargs = {k: v for k, v in settings.items() if not k.startswith("_")}
    if issubclass(cls, MLFlowLogger):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for the opt-in
        uri = (run_dir / "mlruns").as_uri()
        name = kwargs.get("experiment_name") or "alrun"
        run_id = logged.mlflow_run_id(uri, name) if (run_dir / "mlruns").is_dir() else None
        kwargs |= {"tracking_uri": uri, "run_id": run_id, "run_name": kwargs.get("run_name") or run_dir.name}
    elif "save_dir" in inspect.signature(cls).parameters:
        kwargs["save_dir"] = str(run_dir)
    return cls(**kwargs)


def metrics_of(row: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a row (missing and NaN cells left out)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value):
            out[key] = float(value)
    return out


class RunLogger:
    """Run observer that feeds the run's logger (see the module docstring).

    Args:
        settings: the ``logger`` node's settings.
        run_dir: the run folder.
        config: the resolved config, logged as hyperparameters.
        rows: the rows of the rounds done before (a resumed run): their epochs count in the steps.
    """

    def __init__(
        self, settings: Mapping[str, Any], run_dir: Path, config: Mapping[str, Any], rows: list[Any]
    ) -> None:
        self.settings, self.run_dir, self.config = dict(settings), run_dir, dict(config)
        self.logger: Logger | None = None
        self.logged = logged.Logged()
        self.epochs_before = sum(int(row.get("train/epochs") or 0) for row in rows)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Log the metrics not logged at this step yet."""
        fresh = self.logged.new(metrics, step)
        if fresh and self.logger is not None:
            self.logger.log_metrics(fresh, step=step)

    def callback(self) -> pl.Callback:
        """A fresh epoch logger for one round's Trainer."""
        return EpochLog(self)

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Open the logger on its files; log the hyperparameters unless they already are."""
        self.logger = build_logger(self.settings, self.run_dir)
        self.logged = logged.start(self.logger)
        if not self.logged.hparams:
            self.logger.log_hyperparams(self.config)
            self.logged.hparams = True

    def labelled(self, records: Any) -> None:
        """Nothing: the logger gets rows, not labelling records."""

    def round_finished(self, row: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        """Log the round's row at step ``n_labelled`` and flush (before the checkpoint is written)."""
        self.log(metrics_of(row), int(row["n_labelled"]))
        self.epochs_before += int(row.get("train/epochs") or 0)
        assert self.logger is not None
        self.logger.save()

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Flush and close the logger (``success`` for a finished run, else ``failed``)."""
        if self.logger is not None:
            self.logger.finalize("success" if status == "finished" else "failed")


class EpochLog(pl.Callback):
    """Logs each training epoch of a round's fit: its mean loss, and the validation metrics of a
    validation that ran in it. An epoch is logged when the next starts or the fit ends, once the
    module's own ``on_train_epoch_end`` (which runs after this callback's) has put its loss in
    ``trainer.callback_metrics``."""

    def __init__(self, run: RunLogger) -> None:
        self.run = run
        self.pending: dict[str, Any] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Remember that this epoch validated."""
        if not trainer.sanity_checking and self.pending is None:
            self.pending = {"validated": True}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mark the epoch for logging."""
        self.pending = (self.pending or {}) | {"epoch": trainer.current_epoch, "round": pl_module.round}

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the epoch before."""
        self._flush(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the fit's last epoch."""
        self._flush(trainer)

    def _flush(self, trainer: pl.Trainer) -> None:
        pending, self.pending = self.pending, None
        if pending is None or "epoch" not in pending:
            return
        found = trainer.callback_metrics
        keys = ["train/loss"] + (["val/acc", "val/loss"] if pending.get("validated") else [])
        metrics = {f"epoch/{k}": float(found[k]) for k in keys if k in found}
        metrics["epoch/round"] = float(pending["round"])
        self.run.log(metrics, self.run.epochs_before + int(pending["epoch"]))
