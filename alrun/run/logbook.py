"""The run observer that feeds the run's logger (:mod:`alrun.run.loggers`), and its epoch callback.

Every round's row is logged at step ``n_labelled`` and flushed before the round's checkpoint; every
training epoch at step = the run's epoch count so far, through :class:`EpochLog`, a callback with
epoch-level hooks only, so both fit paths serve it (the fast path calls them after every real epoch,
:mod:`alrun.training.fast`). What the logger's files already hold is read back when the run starts
(:mod:`alrun.run.logged`), so a resumed run logs no step twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger

from alrun.run import logged
from alrun.run.loggers import build_logger

HP_METRICS = ("test/acc", "test/loss")  # the columns of TensorBoard's HPARAMS tab (read from the rows)


def log_config(logger: Logger, config: Mapping[str, Any]) -> None:
    """The resolved config as hyperparameters. TensorBoard's HPARAMS tab gets them too (Lightning
    writes them there only with a metric value to log at once; its tab reads the rows' scalars)."""
    logger.log_hyperparams(dict(config))
    if isinstance(logger, TensorBoardLogger):
        try:
            from torch.utils.tensorboard.summary import hparams
        except ImportError:  # tensorboardX instead of tensorboard
            from tensorboardX.summary import hparams  # type: ignore[no-redef]
        params = logger._sanitize_params(_flatten_dict(_convert_params(dict(config))))
        writer = logger.experiment._get_file_writer()
        for summary in hparams(params, dict.fromkeys(HP_METRICS, 0.0)):
            writer.add_summary(summary)


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
        if self.logger is None:
            return
        fresh = self.logged.new(metrics, step, logged.stored_prefix(self.logger))
        if fresh:
            self.logger.log_metrics(fresh, step=step)

    def callback(self) -> pl.Callback:
        """A fresh epoch logger for one round's Trainer."""
        return EpochLog(self)

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Open the logger on its files; log the hyperparameters unless they already are."""
        self.logger = build_logger(self.settings, self.run_dir)
        self.logged = logged.start(self.logger)
        if not self.logged.hparams:
            log_config(self.logger, self.config)
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
        """Flush and close the logger: ``success`` for a finished run, else ``failed`` (an MLflow run
        that was interrupted is marked ``KILLED``)."""
        if self.logger is None:
            return
        if status == "interrupted" and isinstance(self.logger, MLFlowLogger):
            self.logger.finalize("KILLED")
        else:
            self.logger.finalize("success" if status == "finished" else "failed")


class EpochLog(pl.Callback):
    """Logs each training epoch of a round's fit: its mean loss, the learning rate it started with
    (the first optimizer's first parameter group), and the validation metrics of a validation that
    ran in it. An epoch is logged when the next starts or the fit ends, once the module's own
    ``on_train_epoch_end`` (which runs after this callback's) has put its loss in
    ``trainer.callback_metrics``."""

    def __init__(self, run: RunLogger) -> None:
        self.run = run
        self.pending: dict[str, Any] | None = None
        self.lr: float | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Remember that this epoch validated."""
        if not trainer.sanity_checking and self.pending is None:
            self.pending = {"validated": True}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mark the epoch for logging."""
        self.pending = (self.pending or {}) | {"epoch": trainer.current_epoch, "round": pl_module.round}
        if self.lr is not None:
            self.pending["lr"] = self.lr

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the epoch before; note this one's learning rate."""
        self._flush(trainer)
        groups = trainer.optimizers[0].param_groups if trainer.optimizers else []
        self.lr = float(groups[0]["lr"]) if groups else None

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
        if "lr" in pending:
            metrics["epoch/lr"] = pending["lr"]
        self.run.log(metrics, self.run.epochs_before + int(pending["epoch"]))
