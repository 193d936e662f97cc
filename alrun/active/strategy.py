"""The Strategy: a Lightning module with deeplay's active-learning API.

``query(n)``, ``query_and_update(n)``, ``query_strategy(pool, n)``, ``query_train(n)``,
``query_val(n)``, ``reset_model()``, the data loaders and steps keep deeplay's names and meanings.
What differs: scores come from a pluggable :class:`~alrun.strategies.Acquisition` (higher = query
first), every random draw comes from a named stream, the validation pool is really used, and each
query returns a record of what was picked.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from alrun.active.pool import ActivePool
from alrun.active.querying import Querying
from alrun.data.tensors import ChunkBatches, ShuffledBatches, TensorData, epoch_slices
from alrun.errors import ConfigError, RunFailed
from alrun.run.safety import maybe_die
from alrun.seeding import Streams, torch_global_seed
from alrun.strategies import Acquisition
from alrun.training.inference import batch_metrics, evaluate
from alrun.training.loss import training_loss

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


class _RngScopeGuard(pl.Callback):
    """Closes the Strategy's seeded RNG scope when a fit raises (NaN loss, Ctrl-C, out of memory)."""

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Give the global RNG back its state from before the fit."""
        if isinstance(pl_module, Strategy):
            pl_module.close_rng_scope()


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
        fit_mode: ``epoch`` (one Lightning step per epoch, the mini-batch loop inside it),
            ``batch`` (one Lightning step per mini-batch) or ``fused`` (one Lightning step runs all
            ``trainer.max_epochs`` epochs, then stops the Trainer: Lightning sees a single epoch);
            same arithmetic, same result.
        pool_subsample: score only a seeded random this-many of the unlabelled items per query
            (stream ``subsample``); ``None`` or 0 scores them all.
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
        fit_mode: str = "epoch",
        pool_subsample: int | None = None,
    ) -> None:
        super().__init__()
        self.net_factory, self.streams = net_factory, streams
        self.acquisition, self.optimizer_factory = acquisition, optimizer
        self.train_pool, self.val_pool, self.test_data = train_pool, val_pool, test
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.reset, self.fit_mode, self.automatic_optimization = reset, fit_mode, fit_mode == "batch"
        self.round, self.pool_subsample = 0, pool_subsample
        self.net = self._new_net(0)
        acquisition.check(self.net)
        self.initial_model_state: dict[str, torch.Tensor] | None = None
        self.inference_device = torch.device("cpu")
        self._rng_scope = contextlib.ExitStack()
        self._losses: list[torch.Tensor] = []  # this epoch's mini-batch losses (no per-step math)
        self._sizes: list[int] = []
        self._epochs_done = 0
        # called with the number of epochs done after each real epoch, whatever the fit mode
        self.epoch_listeners: list[Callable[[int], None]] = []
        self._epoch_loss = float("nan")

    def _new_net(self, round_: int) -> nn.Module:
        with torch_global_seed(self.streams.entropy("weights", round_)):
            return self.net_factory()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier."""
        return self.net(x)

    # ---- Lightning hooks -------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        """A fresh optimizer over the net's parameters."""
        return self.optimizer_factory(self.net.parameters())

    def on_fit_start(self) -> None:
        """Train mode, data next to the model, and dropout seeded for this round's fit."""
        self.train()
        self.inference_device = self.device
        self.train_pool.to(self.device)
        if self.val_pool is not None:
            self.val_pool.to(self.device)
        seed = self.streams.entropy("dropout", self.round)
        self._rng_scope.enter_context(torch_global_seed(seed, self.device))

    def on_fit_end(self) -> None:
        """Give torch's global RNG back its state from before the fit."""
        self.close_rng_scope()

    def close_rng_scope(self) -> None:
        """Leave this fit's seeded scope of the global RNG (idempotent)."""
        self._rng_scope.close()

    def configure_callbacks(self) -> list[pl.Callback]:
        """A guard that leaves the seeded RNG scope when a fit fails (Lightning calls the callbacks'
        ``on_exception``, not the module's)."""
        return [_RngScopeGuard()]

    def on_train_start(self) -> None:
        """Called at the beginning of training; the first call captures the initial weights."""
        if self.initial_model_state is None:
            self.initial_model_state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        self._losses, self._sizes, self._epochs_done = [], [], 0
        self.train()

    def on_train_epoch_end(self) -> None:
        """Close the epoch (``fit_mode=batch``; the other modes close each epoch in the step)."""
        if self._losses:
            self._close_epoch()

    def _close_epoch(self) -> None:
        """Record the epoch's mean loss; stop the run when it is not finite (NaN or infinite)."""
        maybe_die("fit", self.round)
        sizes = torch.tensor(self._sizes, dtype=torch.float64, device=self._losses[0].device)
        self._epoch_loss = float(torch.stack(self._losses).double().dot(sizes) / sizes.sum())
        self._losses, self._sizes = [], []
        self._epochs_done += 1
        if not math.isfinite(self._epoch_loss):
            raise RunFailed(
                f"training loss is {self._epoch_loss} at round {self.round}, epoch {self._epochs_done - 1}"
            )
        for listener in self.epoch_listeners:
            listener(self._epochs_done)

    @property
    def last_train_loss(self) -> float:
        """Mean training loss of the last epoch of the last fit."""
        return self._epoch_loss

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = training_loss(self.net, x, y)
        self._losses.append(loss.detach())
        self._sizes.append(len(y))
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        """One mini-batch (``fit_mode=batch``), one shuffled epoch (``epoch``) or all of the
        round's epochs (``fused``, after which the Trainer is told to stop)."""
        if self.automatic_optimization:
            return self._step(*batch)
        # the bare optimizer is fastest; fp16 mixed precision needs Lightning's (its gradient scaler)
        scaled = "16-mixed" in str(self.trainer.precision) and "bf16" not in str(self.trainer.precision)
        opt = self.optimizers(use_pl_optimizer=scaled)
        assert not isinstance(opt, list)
        backward = self.manual_backward if scaled else torch.Tensor.backward
        for xs, ys in batch:
            for part in epoch_slices(len(ys), self.batch_size):
                opt.zero_grad(set_to_none=True)
                backward(self._step(xs[part], ys[part]))
                opt.step()
            self._close_epoch()
        if self.fit_mode == "fused":
            self.trainer.should_stop = True
        return None

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
        """The labelled training items, shuffled by this round's training stream."""
        data = self.train_pool.labelled_data()
        prepare = getattr(self.net, "training_data", None)  # an ensemble's bootstrap counts
        if prepare is not None:
            data = prepare(data, self.streams.torch("bootstrap", self.round))
        gen = self.streams.torch("train", self.round)
        return ShuffledBatches(data.x, data.y, self.batch_size, gen, self._epochs_per_step())

    def _epochs_per_step(self) -> int:
        """Epochs per Lightning step: 0 = one step per mini-batch, 1 per epoch, or all of them."""
        if self.fit_mode != "fused":
            return 0 if self.automatic_optimization else 1
        epochs = self.trainer.max_epochs
        if epochs is None or epochs < 1:
            raise ConfigError(f"fit_mode=fused needs trainer.max_epochs >= 1, got {epochs}")
        return epochs

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

    def evaluate(self) -> dict[str, float]:
        """Test (and validation) metrics, computed outside the Trainer in large chunks."""
        self.to(self.inference_device).eval()
        self.test_data = self.test_data.to(self.inference_device)
        out = {f"test/{k}": v for k, v in evaluate(self.net, self.test_data, self.eval_batch_size).items()}
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
        if self.reset == "snapshot" and self.initial_model_state is not None:
            self.net.load_state_dict(self.initial_model_state)
        elif self.reset == "scratch":
            self.net.load_state_dict(self._new_net(self.round).state_dict())
