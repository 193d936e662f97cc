"""The run's logger (the ``logger`` config group): one Lightning ``Logger`` for the whole experiment.

Every round's row (``round``, ``n_labelled``, the test, validation, training and query metrics, the
timings) is logged at step ``n_labelled``; every training epoch's ``epoch/train/loss`` (and
``epoch/val/*`` after a validation, ``epoch/round``) at step = the run's epoch count so far; the
resolved config once, as hyperparameters. Its files go inside the run folder (alrun sets
``save_dir``, or MLflow's ``tracking_uri``); a resumed run appends to them (:mod:`alrun.run.logged`).

This module checks and builds the logger; :mod:`alrun.run.logbook` feeds it during the run. The
rounds' Trainers get no logger of their own (``trainer.logger`` logs each fit on its own).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
