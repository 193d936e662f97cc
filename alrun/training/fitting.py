"""The owner of fitting: how each round's model is trained, on which path, and what its row gets.

:class:`~alrun.active.strategy.Strategy` is the LightningModule a Trainer fits; it hands its training
hooks (``configure_optimizers``, ``train_dataloader``, ``on_train_start``, ``training_step``,
``on_train_epoch_end``) and ``reset_model`` to a :class:`Fitting`. The path of each fit is chosen from
the Trainer that runs it (:mod:`alrun.training.paths`); on the fast path ``on_train_start`` runs the
epochs (:mod:`alrun.training.fast`), on the lightning path Lightning calls ``training_step`` for
every mini-batch. Both compute the loss through :func:`~alrun.training.loss.training_loss`, close
each real epoch here (NaN guard, ``train/loss`` in ``trainer.callback_metrics``), and
draw their randomness from the round's streams: ``weights`` (fresh nets), ``train`` (epoch draws),
``dropout`` (a seeded scope of torch's global RNG for the whole fit).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from alrun import collectives
from alrun.config.checks import check_int
from alrun.data.tensors import ShuffledBatches, TensorData
from alrun.errors import ConfigError, RunFailed
from alrun.seeding import Streams, torch_global_seed
from alrun.training.decay import DecayGroup, assign, param_groups, parse_groups
from alrun.training.fast import FastLoop, make_step
from alrun.training.loss import training_loss
from alrun.training.paths import FIT_MODES, FitPath, choose
from alrun.training.schedulers import Schedule

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]
RESETS = ("snapshot", "scratch", "warm")


@dataclass(frozen=True)
class FitRecord:
    """What a finished fit gives the round's row."""

    loss: float = math.nan
    epochs: int = 0
    steps: int = 0

    def row(self) -> dict[str, float | int]:
        """``train/loss`` (mean loss of the last epoch), ``train/epochs``, ``train/steps``."""
        return {"train/loss": self.loss, "train/epochs": self.epochs, "train/steps": self.steps}


class Fitting:
    """Fits a Strategy's net each round.

    Args:
        net_factory: builds a fresh net (called under the ``weights`` stream's seeded scope).
        streams: the run's random streams.
        optimizer: builds the optimizer from parameters (or parameter groups), fresh every fit.
        batch_size: training mini-batch size.
        reset: ``snapshot`` (back to the weights of the first fit), ``scratch`` (fresh seeded
            weights each round) or ``warm`` (keep training the same weights).
        fit_mode: ``auto``, ``fast`` or ``lightning`` (see :mod:`alrun.training.paths`).
        scheduler: a learning-rate :class:`~alrun.training.schedulers.Schedule`, or ``None``.
        epoch_samples: fixed-length epochs of this many items drawn with replacement; ``None``:
            ordinary shuffled epochs.
        weight_decay_groups: weight decay on named parameters (see :mod:`alrun.training.decay`).
    """

    def __init__(
        self,
        net_factory: Callable[[], Any],
        streams: Streams,
        optimizer: OptimizerFactory,
        batch_size: int = 32,
        reset: str = "snapshot",
        fit_mode: str = "auto",
        scheduler: Schedule | None = None,
        epoch_samples: int | None = None,
        weight_decay_groups: Iterable[Any] = (),
    ) -> None:
        for key, value, allowed in (("reset", reset, RESETS), ("fit_mode", fit_mode, FIT_MODES)):
            if value not in allowed:
                raise ConfigError(f"{key}={value!r} is not allowed (choose from: {', '.join(allowed)})")
        if epoch_samples is not None:
            check_int("epoch_samples", epoch_samples, 1)
        self.net_factory, self.streams, self.optimizer = net_factory, streams, optimizer
        self.batch_size, self.reset_mode, self.fit_mode = batch_size, reset, fit_mode
        self.scheduler, self.epoch_samples = scheduler, epoch_samples
        groups = list(weight_decay_groups)
        is_parsed = all(isinstance(g, DecayGroup) for g in groups)
        self.decay: Sequence[DecayGroup] = groups if is_parsed else parse_groups(groups)
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.path: FitPath | None = None
        self.last = FitRecord()
        self._last_loss = math.nan
        self._decided_for: weakref.ref[pl.Trainer] | None = None
        self._batches: ShuffledBatches | None = None
        self._losses: list[torch.Tensor] = []  # this epoch's mini-batch losses (no per-step math)
        self._sizes: list[int] = []
        self._epochs = 0
        self._rng_scope = contextlib.ExitStack()
        self._metrics: dict[str, Any] = {}
        self._step_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = self._loss(nn.Identity())

    def new_net(self, round_: int) -> Any:
        """A fresh net with the weights of round ``round_``'s ``weights`` stream."""
        with torch_global_seed(self.streams.entropy("weights", round_)):
            net = self.net_factory()
        assign(net, self.decay)  # a decay pattern that matches no parameter is refused now
        return net

    def path_for(self, trainer: pl.Trainer, module: pl.LightningModule, base: type) -> FitPath:
        """The path of ``trainer``'s fit of ``module`` (chosen once per Trainer)."""
        if self._decided_for is None or self._decided_for() is not trainer:
            self.path = choose(trainer, self.fit_mode, module, base)
            self._decided_for = weakref.ref(trainer)
        assert self.path is not None
        return self.path

    # ---- hooks the Strategy hands over ---------------------------------------------------------
    def configure_optimizers(self, net: nn.Module, n_labels: int, trainer: pl.Trainer) -> Any:
        """A fresh optimizer (with this fit's weight-decay groups) and scheduler."""
        params = param_groups(net, self.decay, n_labels) if self.decay else net.parameters()
        opt = self.optimizer(params)
        if self.scheduler is None:
            return opt
        schedule = self.scheduler.build(opt, lambda: trainer.estimated_stepping_batches)
        return {"optimizer": opt, "lr_scheduler": schedule}

    def train_batches(self, data: TensorData, generator: torch.Generator) -> ShuffledBatches:
        """The epoch draws of this fit (both paths read the same object)."""
        shard = (collectives.rank(), collectives.world())
        self._batches = ShuffledBatches(data.x, data.y, self.batch_size, generator, self.epoch_samples, shard)
        return self._batches

    def begin(self, seed: int, device: torch.device) -> None:
        """Enter the fit's seeded scope of torch's global RNG (dropout masks)."""
        self._rng_scope.enter_context(torch_global_seed(seed, device))

    def close_rng_scope(self) -> None:
        """Leave the fit's seeded RNG scope (idempotent)."""
        self._rng_scope.close()

    def start_training(self, trainer: pl.Trainer, module: pl.LightningModule, net: nn.Module) -> None:
        """Capture the snapshot on the first fit; on the fast path, run the fit's epochs."""
        if self.snapshot is None:
            self.snapshot = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        self._losses, self._sizes, self._epochs, self._last_loss = [], [], 0, math.nan
        self._metrics = trainer.callback_metrics  # the fit's dict (Lightning resets it only before training)
        self._step_loss = self._loss(net)
        assert self.path is not None and self._batches is not None
        if self.path.name == "fast":
            FastLoop(trainer, module, self._batches, make_step(trainer, module, self._step_loss)).run()

    def _loss(self, net: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            value = training_loss(net, x, y)
            self._losses.append(value.detach())
            self._sizes.append(len(y))
            return value

        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """One mini-batch of the lightning path: its loss, for Lightning's optimizer step."""
        return self._step_loss(*batch)

    def close_epoch(self, trainer: pl.Trainer, round_: int) -> float:
        """End a real epoch: its mean loss into ``trainer.callback_metrics["train/loss"]``, and a
        :class:`RunFailed` when it is not finite."""
        loss = math.nan
        if self._losses:  # under several ranks: the mean over all ranks' items
            sizes = torch.tensor(self._sizes, dtype=torch.float64, device=self._losses[0].device)
            total = torch.stack([torch.stack(self._losses).double().dot(sizes), sizes.sum()])
            total = collectives.all_sum(total)
            loss = float(total[0] / total[1])
        self._losses, self._sizes = [], []
        self._epochs += 1
        if not math.isfinite(loss):
            raise RunFailed(f"training loss is {loss} at round {round_}, epoch {self._epochs - 1}")
        self._metrics["train/loss"] = torch.tensor(loss, dtype=torch.float32)
        self._last_loss = loss
        return loss

    def finish(self, trainer: pl.Trainer) -> None:
        """Record the finished fit's epochs and optimizer steps."""
        self.last = FitRecord(self._last_loss, trainer.current_epoch, trainer.global_step)

    def reset(self, net: nn.Module, round_: int) -> None:
        """``reset_model``: the snapshot's weights, fresh ones of round ``round_``, or none (warm)."""
        if self.reset_mode == "snapshot" and self.snapshot is not None:
            net.load_state_dict(self.snapshot)
        elif self.reset_mode == "scratch":
            net.load_state_dict(self.new_net(round_).state_dict())

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs of the fitting: the snapshot of the first fit's weights."""
        return {"initial_model_state": self.snapshot}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.snapshot = state["initial_model_state"]
