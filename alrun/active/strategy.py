"""The Strategy: a Lightning module with deeplay's active-learning API.

``query(n)``, ``query_and_update(n)``, ``query_strategy(pool, n)``, ``query_train(n)``,
``query_val(n)``, ``reset_model()``, the data loaders and steps keep deeplay's names and meanings.
What differs: scores come from a pluggable :class:`~alrun.strategies.Acquisition` (higher = query
first), every random draw comes from a named stream, the validation pool is really used, and each
query returns a record of what was picked. Training is owned by a
:class:`~alrun.training.fitting.Fitting`: the training hooks below hand over to it, so
``trainer.fit(strategy)`` works with any Trainer (alrun's, or one of the user's own), on the fit
path that Trainer allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from alrun.active.pool import ActivePool
from alrun.active.querying import Querying
from alrun.active.resume import ResumeState
from alrun.data.tensors import ChunkBatches, ShuffledBatches, TensorData
from alrun.run.safety import maybe_die
from alrun.seeding import Streams
from alrun.strategies import Acquisition
from alrun.training.callbacks import RngScopeGuard
from alrun.training.fitting import Fitting, OptimizerFactory
from alrun.training.inference import batch_metrics, check_mc_evaluation, evaluate, evaluate_mc
from alrun.training.schedulers import Schedule


class Strategy(Querying, pl.LightningModule):
    """Pool-based active learning as a LightningModule (deeplay's ``Strategy`` API).

    Args:
        net_factory: builds a fresh model, any ``nn.Module`` returning logits (called under a seeded scope).
        acquisition: the query rule (the ``strategy`` config group).
        train_pool: the training pool.
        test: the fixed test set (never queried).
        optimizer: builds the optimizer from parameters (a fresh one every fit).
        streams: the run's random streams.
        val_pool: the validation pool, or ``None``.
        batch_size: training mini-batch size.
        eval_batch_size: chunk size for evaluation and pool scoring.
        reset: ``snapshot`` (back to the weights of the first fit), ``scratch`` (fresh seeded
            weights each round) or ``warm`` (keep training the same weights).
        fit_mode: ``auto`` (the fast path unless the Trainer asks for what only Lightning's
            per-step loop serves), ``fast`` or ``lightning``; same arithmetic, same result.
        pool_subsample: score only a seeded random this-many of the unlabelled items per query
            (stream ``subsample``); ``None`` or 0 scores them all.
        scheduler: a learning-rate schedule for every fit, or ``None``.
        epoch_samples: fixed-length epochs of this many items drawn with replacement.
        weight_decay_groups: weight decay on named parameters (:mod:`alrun.training.decay`).
        eval_mc_samples: test metrics of the mean of this many MC-dropout passes (stream
            ``eval_dropout``); 0: one deterministic (dropout-off) pass.
    """

    def __init__(
        self,
        net_factory: Callable[[], nn.Module],
        acquisition: Acquisition,
        train_pool: ActivePool,
        test: TensorData,
        optimizer: OptimizerFactory,
        streams: Streams,
        val_pool: ActivePool | None = None,
        batch_size: int = 32,
        eval_batch_size: int = 4096,
        reset: str = "snapshot",
        fit_mode: str = "auto",
        pool_subsample: int | None = None,
        scheduler: Schedule | None = None,
        epoch_samples: int | None = None,
        weight_decay_groups: Iterable[Any] = (),
        eval_mc_samples: int = 0,
    ) -> None:
        super().__init__()
        self.fitting = Fitting(
            net_factory, streams, optimizer, batch_size, reset, fit_mode, scheduler, epoch_samples,
            weight_decay_groups,
        )  # fmt: skip
        self.acquisition, self.streams = acquisition, streams
        self.train_pool, self.val_pool, self.test_data = train_pool, val_pool, test
        self.eval_batch_size, self.pool_subsample, self.round = eval_batch_size, pool_subsample, 0
        self.net = self.fitting.new_net(0)
        acquisition.check(self.net)
        self.eval_mc_samples = check_mc_evaluation(self.net, eval_mc_samples)
        self.inference_device = torch.device("cpu")
        self.resume = ResumeState(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier."""
        return self.net(x)

    @property
    def automatic_optimization(self) -> bool:
        """``True`` on the lightning path, ``False`` on the fast path: chosen from the fitting Trainer
        (``True``, Lightning's default, outside a fit: ``trainer.test`` and ``validate`` optimize nothing)."""
        trainer = self._trainer
        if trainer is None or trainer.state.fn != TrainerFn.FITTING:
            return True
        return self.fitting.path_for(trainer, self, Strategy).name == "lightning"

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        raise AttributeError("the fit path follows fit_mode (auto, fast or lightning), not this attribute")

    # ---- Lightning hooks, handed to the fitting ----------------------------------------------
    def configure_optimizers(self) -> Any:
        """A fresh optimizer (and learning-rate scheduler) for this fit."""
        return self.fitting.configure_optimizers(self.net, self.train_pool.n_labelled, self.trainer)

    def configure_callbacks(self) -> list[pl.Callback]:
        """A guard that leaves the fit's seeded RNG scope when the fit raises."""
        return [RngScopeGuard(self.fitting.close_rng_scope)]

    def on_fit_start(self) -> None:
        """Train mode, data next to the model, and dropout seeded for this round's fit."""
        self.train()
        self.inference_device = self.device
        self.train_pool.to(self.device)
        if self.val_pool is not None:
            self.val_pool.to(self.device)
        self.fitting.begin(self.streams.entropy("dropout", self.round), self.device)

    def on_fit_end(self) -> None:
        """Give torch's global RNG back its state from before the fit."""
        self.fitting.close_rng_scope()

    def on_train_start(self) -> None:
        """Called at the beginning of training after sanity check. The first call captures the initial
        weights (``reset_model``'s snapshot); on the fast path the round's epochs run here."""
        self.train()
        self.fitting.start_training(self.trainer, self, self.net)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One mini-batch's training loss (the lightning path; the fast path steps on its own)."""
        return self.fitting.training_step(batch)

    def on_train_epoch_end(self) -> None:
        """Close the epoch: ``train/loss`` for callbacks (and loggers); a non-finite loss fails the run.
        Once per real epoch on either path, so also the ``fit`` fault point of the kill tests."""
        maybe_die("fit", self.round)
        loss = self.fitting.close_epoch(self.trainer, self.round)
        if self.trainer.loggers:
            self.log("train/loss", loss)

    def on_train_end(self) -> None:
        """Record the fit's epochs and optimizer steps for the round's row."""
        self.fitting.finish(self.trainer)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Validation metrics on a chunk of the labelled validation set (``val/acc``, ``val/loss``)."""
        self._log_metrics("val", *batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Test metrics on a chunk of the test set (``test/acc``, ``test/loss``)."""
        self._log_metrics("test", *batch)

    def _log_metrics(self, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
        acc, loss = batch_metrics(self.net(x), y)
        self.log_dict({f"{split}/acc": acc, f"{split}/loss": loss}, batch_size=len(y))

    # ---- data ------------------------------------------------------------------------------
    def train_dataloader(self) -> ShuffledBatches:
        """The labelled training items, drawn anew each epoch from this round's training stream (a
        model with ``training_data`` gets to redraw them first: an ensemble's bootstrap)."""
        data = self.train_pool.labelled_data()
        prepare = getattr(self.net, "training_data", None)
        if prepare is not None:
            data = prepare(data, self.streams.torch("bootstrap", self.round))
        gen = self.streams.torch("train", self.round)
        return self.fitting.train_batches(data, gen)

    def val_dataloader(self) -> ChunkBatches:
        """The labelled validation items (empty without a validation pool)."""
        if self.val_pool is None or self.val_pool.n_labelled == 0:
            return ChunkBatches(torch.empty(0), None, self.eval_batch_size)
        data = self.val_pool.labelled_data()
        return ChunkBatches(data.x, data.y, self.eval_batch_size)

    def test_dataloader(self) -> ChunkBatches:
        """The fixed test set, in chunks."""
        data = self.test_data.to(self.device)
        return ChunkBatches(data.x, data.y, self.eval_batch_size)

    # ---- after a fit -----------------------------------------------------------------------
    def fit_metrics(self) -> dict[str, float | int]:
        """The last fit's ``train/loss`` (its last epoch's mean), ``train/epochs`` and ``train/steps``."""
        return self.fitting.last.row()

    def evaluate(self) -> dict[str, float]:
        """Test (and validation) metrics, computed outside the Trainer in large chunks."""
        self.to(self.inference_device).eval()
        self.test_data = self.test_data.to(self.inference_device)
        seed = self.streams.entropy("eval_dropout", self.round)
        test = evaluate_mc(self.net, self.test_data, self.eval_batch_size, self.eval_mc_samples, seed)
        out: dict[str, float] = {f"test/{k}": v for k, v in test.items()}
        val = self.val_pool.labelled_data() if self.val_pool is not None else None
        if val is not None and len(val):
            out |= {
                f"val/{k}": v
                for k, v in evaluate(self.net, val.to(self.inference_device), self.eval_batch_size).items()
            }
        return out

    def reset_model(self) -> None:
        """Reset the model to its initial state.

        ``snapshot``: the weights captured at the first ``on_train_start``; ``scratch``: fresh
        weights drawn from this round's weight stream; ``warm``: keep the trained weights.
        """
        self.fitting.reset(self.net, self.round)
