"""A fresh Lightning Trainer, with freshly built callbacks, for every round's fit.

Callbacks come from the ``callbacks`` config group (lightning-hydra-template's style: one file per
callback, several selectable) and from ``trainer.callbacks``; each round instantiates them anew, so no
state (an EarlyStopping's best score and wait count, a ModelCheckpoint's best path) leaks from one
round into the next. Whatever Lightning writes lands in the run folder: a ModelCheckpoint in
``checkpoints/round_<k>/`` (under its own ``dirpath``, when given, in ``round_<k>/``), a logger in
``lightning_logs/`` (a logger config's relative ``save_dir``: inside the run folder too). The
Trainer gets no logger unless its config asks for one or a callback needs one
(``LearningRateMonitor``: a CSVLogger in ``lightning_logs/round_<k>/``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Checkpoint, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf

from alrun.config.instantiation import instantiate_checked
from alrun.errors import ConfigError
from alrun.launched import check_slurm_step

NO_GPU = "no CUDA device is visible; use trainer=cpu or trainer=auto"


def quiet_lightning() -> None:
    """Silence Lightning's per-Trainer banners and hints that do not apply to in-memory batches."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system.*")
    warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def look_up_callback_factories_once() -> None:
    """Every Trainer's constructor scans the entry points of all installed packages for callback
    factories (``lightning.pytorch.callbacks_factory``): ~3 ms, as much as a small model's round
    costs in several epochs. Installed packages do not change during a run, so alrun scans once per
    process; when a package does register factories, every Trainer still calls them, as Lightning does."""
    from lightning.pytorch.trainer.connectors import callback_connector

    load = callback_connector._load_external_callbacks
    if getattr(load, "alrun_scanned_once", False):
        return
    name = "lightning.pytorch.callbacks_factory"
    found = bool(entry_points(group=name))

    def load_external_callbacks(group: str) -> list[Any]:
        return load(group) if found or group != name else []

    load_external_callbacks.alrun_scanned_once = True  # type: ignore[attr-defined]
    callback_connector._load_external_callbacks = load_external_callbacks


def callback_nodes(cfg: DictConfig) -> list[tuple[str, DictConfig]]:
    """``(name, node)`` of each configured callback: the ``callbacks`` group's, then ``trainer.callbacks``."""
    group = cfg.get("callbacks") or {}
    nodes = [(f"callbacks.{name}", node) for name, node in group.items() if node is not None]
    listed = cfg.trainer.get("callbacks") or []
    return nodes + [(f"trainer.callbacks[{i}]", node) for i, node in enumerate(listed)]


LOGGER_DIRS = ("save_dir", "root_dir")  # where Lightning's file loggers write


def place_loggers(logger: Any, run_dir: Path) -> Any:
    """``trainer.logger`` with each logger config's relative ``save_dir`` (or ``root_dir``) put inside
    the run folder, as Lightning's own files are; absolute paths and ``true``/``false`` stay as they are."""
    if isinstance(logger, list):
        return [place_loggers(one, run_dir) for one in logger]
    if not isinstance(logger, dict):
        return logger
    return {
        k: str(run_dir / v) if k in LOGGER_DIRS and isinstance(v, str) and not os.path.isabs(v) else v
        for k, v in logger.items()
    }


class TrainerFactory:
    """Builds each round's Trainer.

    Args:
        trainer: the partial ``lightning.pytorch.Trainer`` of the trainer config (without callbacks).
        callbacks: ``(name, config node)`` of the callbacks to build afresh for every Trainer.
        run_dir: the run folder (``default_root_dir``, ModelCheckpoint and logger files).
        extra: alrun's own callbacks for every Trainer (the progress bar's ticker).
    """

    def __init__(
        self,
        trainer: Callable[..., pl.Trainer],
        callbacks: Sequence[tuple[str, DictConfig]] = (),
        run_dir: Path | None = None,
        extra: Callable[[], Iterable[pl.Callback]] = list,
    ) -> None:
        self.trainer, self.nodes, self.run_dir, self.extra = trainer, list(callbacks), run_dir, extra
        look_up_callback_factories_once()
        self.settings: dict[str, Any] = dict(getattr(trainer, "keywords", {}))

    @classmethod
    def from_config(
        cls, cfg: DictConfig, run_dir: Path | None = None, extra: Callable[[], Iterable[pl.Callback]] = list
    ) -> TrainerFactory:
        """The factory of a composed run config (``cfg.trainer``, ``cfg.callbacks``)."""
        settings = OmegaConf.to_container(cfg.trainer, resolve=True)
        assert isinstance(settings, dict)
        settings.pop("callbacks", None)  # built afresh for every Trainer
        settings["_convert_"] = "all"  # plain dicts for Lightning (max_time={seconds: 30})
        if run_dir is not None:
            settings["logger"] = place_loggers(settings.get("logger"), run_dir)
        trainer = instantiate_checked(OmegaConf.create(settings), "trainer")
        return cls(trainer, callback_nodes(cfg), run_dir, extra)

    def callbacks(self) -> list[pl.Callback]:
        """Fresh instances of the configured callbacks."""
        built = [instantiate_checked(node, name) for name, node in self.nodes]
        for name, cb in zip((n for n, _ in self.nodes), built, strict=True):
            if not isinstance(cb, pl.Callback):
                raise ConfigError(f"{name}: {type(cb).__name__} is not a lightning.pytorch.Callback")
        return built

    def __call__(self, round_: int = 0) -> pl.Trainer:
        """A new Trainer for round ``round_``, with new callbacks."""
        accelerator = str(self.settings.get("accelerator", "auto"))
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator}: {NO_GPU}")
        callbacks = [*self.callbacks(), *self.extra()]
        kwargs: dict[str, Any] = {"callbacks": callbacks}
        if self.run_dir is not None and "default_root_dir" not in self.settings:
            kwargs["default_root_dir"] = self.run_dir
        if any(isinstance(cb, Checkpoint) for cb in callbacks):
            kwargs["enable_checkpointing"] = True  # Lightning refuses a checkpoint callback otherwise
        wants_logger = any(isinstance(cb, LearningRateMonitor) for cb in callbacks)
        if wants_logger and not self.settings.get("logger") and self.run_dir is not None:
            kwargs["logger"] = CSVLogger(self.run_dir, name="lightning_logs", version=f"round_{round_}")
        if SLURMEnvironment.detect():  # Lightning will read the ranks from Slurm
            check_slurm_step()
            if "plugins" not in self.settings:
                kwargs["plugins"] = [SLURMEnvironment(auto_requeue=False)]  # alrun resumes a requeued job
        try:
            trainer = self.trainer(**kwargs)
        except (MisconfigurationException, ValueError) as exc:  # Lightning refuses strategies with ValueError
            raise ConfigError(f"trainer: {' '.join(str(exc).split())}") from None
        for cb in trainer.checkpoint_callbacks:
            if isinstance(cb, ModelCheckpoint):
                self._place(cb, round_)
        return trainer

    def _place(self, cb: ModelCheckpoint, round_: int) -> None:
        """One sub-folder per round, in the run folder unless the callback names its own."""
        if cb.dirpath is None and self.run_dir is not None:
            cb.dirpath = str(self.run_dir / "checkpoints" / f"round_{round_}")
        elif cb.dirpath is not None:
            cb.dirpath = os.path.join(cb.dirpath, f"round_{round_}")
