"""The Strategy: a Lightning module with deeplay's active-learning API.

``query(n)``, ``query_and_update(n)``, ``query_strategy(pool, n)``, ``query_train(n)``,
``query_val(n)``, ``reset_model()``, the data loaders and steps keep deeplay's names and meanings.
What differs: scores come from a pluggable :class:`~alrun.strategies.Acquisition` (higher = query
first), every random draw comes from a named stream, the validation pool is really used, and each
query returns a record of what was picked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from alrun.errors import RunFailed
from alrun.inference import batch_metrics, evaluate
from alrun.nets import Classifier
from alrun.pool import ActivePool, QueryRecord, initial_indices
from alrun.safety import maybe_die
from alrun.seeding import Streams, torch_global_seed
from alrun.strategies import Acquisition, Selection
from alrun.tensors import ChunkBatches, ShuffledBatches, TensorData, epoch_slices

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


class Strategy(pl.LightningModule):
    """Pool-based active learning as a LightningModule (deeplay's ``Strategy`` API).

    Args:
        net_factory: builds a fresh :class:`~alrun.nets.Classifier` (called under a seeded scope).
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
        fit_mode: ``epoch`` (one Lightning step per epoch, the mini-batch loop inside it) or
            ``batch`` (one Lightning step per mini-batch); same arithmetic, same result.
        pool_subsample: score only a seeded random this-many of the unlabelled items per query
            (stream ``subsample``); ``None`` or 0 scores them all.
    """

    def __init__(
        self,
        net_factory: Callable[[], Classifier],
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
        self.reset, self.automatic_optimization = reset, fit_mode == "batch"
        self.round, self.pool_subsample = 0, pool_subsample
        self.net = self._new_net(0)
        acquisition.check(self.net)
        self.initial_model_state: dict[str, torch.Tensor] | None = None
        self.inference_device = torch.device("cpu")
        self._rng_scope = contextlib.ExitStack()
        self._loss_sum = torch.zeros(())
        self._loss_count = 0

    def _new_net(self, round_: int) -> Classifier:
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
        self._rng_scope.close()

    def on_exception(self, exception: BaseException) -> None:
        """Give the global RNG back even when a fit fails."""
        self._rng_scope.close()

    def on_train_start(self) -> None:
        """Called at the beginning of training; the first call captures the initial weights."""
        if self.initial_model_state is None:
            self.initial_model_state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        self.train()

    def on_train_epoch_start(self) -> None:
        """Start the epoch's loss sum."""
        self._loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._loss_count = 0

    def on_train_epoch_end(self) -> None:
        """Stop the run when the training loss is no longer finite (NaN or infinite)."""
        maybe_die("fit", self.round)
        if self._loss_count and not bool(torch.isfinite(self._loss_sum)):
            raise RunFailed(
                f"training loss is {self._loss_sum.item()} at round {self.round}, epoch {self.current_epoch}"
            )

    @property
    def last_train_loss(self) -> float:
        """Mean training loss of the last epoch of the last fit."""
        return self._loss_sum.item() / self._loss_count if self._loss_count else float("nan")

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(self.net(x), y)
        self._loss_sum += loss.detach().double() * len(y)
        self._loss_count += len(y)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        """One mini-batch (``fit_mode=batch``) or one whole shuffled epoch (``fit_mode=epoch``)."""
        x, y = batch
        if self.automatic_optimization:
            return self._step(x, y)
        opt = self.optimizers(use_pl_optimizer=False)
        assert isinstance(opt, torch.optim.Optimizer)
        for part in epoch_slices(len(y), self.batch_size):
            opt.zero_grad(set_to_none=True)
            self._step(x[part], y[part]).backward()
            opt.step()
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
        gen = self.streams.torch("train", self.round)
        return ShuffledBatches(data.x, data.y, self.batch_size, gen, not self.automatic_optimization)

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

    # ---- querying --------------------------------------------------------------------------
    def query_strategy(self, pool: ActivePool, n: int) -> Selection:
        """Pick ``n`` of ``pool``'s unlabelled items (indices relative to its unlabelled list)."""
        from alrun.strategies import QueryContext
        from alrun.strategies.select import subsample

        self.to(self.inference_device).eval()
        x = pool.to(self.inference_device).unlabelled_data().x
        scored = subsample(len(x), self.pool_subsample, self.streams.torch("subsample", self.round))
        ctx = QueryContext(
            x=x if scored is None else x[scored.to(x.device)],
            net=self.net,
            chunk_size=self.eval_batch_size,
            tiebreak=self.streams.torch("tiebreak", self.round),
            acquisition=self.streams.torch("acquisition", self.round),
            labelled_x=self.train_pool.to(self.inference_device).labelled_data().x,
            mc_seed=self.streams.entropy("mc_dropout", self.round),
        )
        picked = self.acquisition.select(ctx, n)
        if scored is None:
            return picked
        return Selection(scored[picked.index.cpu()], picked.score, picked.pool_score)

    def query_train(self, n: int) -> Selection:
        """Query the strategy for ``n`` items to annotate from the training pool."""
        return self.query_strategy(self.train_pool, n)

    def query_val(self, n: int) -> Selection:
        """``n`` items to annotate from the validation pool, uniformly at random (stream ``val``).

        Validation items are drawn i.i.d. on purpose: a validation set picked by an informativeness
        score would be biased for early stopping and model selection.
        """
        if self.val_pool is None:
            raise ValueError("this strategy has no validation pool (val_size=0)")
        gen = self.streams.torch("val", self.round)
        index = torch.randperm(len(self.val_pool.unlabelled()), generator=gen)[:n]
        return Selection(index, torch.full((len(index),), float("nan"), dtype=torch.float64))

    def query(self, n: int) -> Selection:
        """Query the strategy for ``n`` training items to annotate."""
        return self.query_train(n)

    def _label(self, pool: ActivePool, selection: Selection, round_: int) -> QueryRecord:
        ps = None if selection.pool_score is None else selection.pool_score.cpu().numpy()
        return pool.label_candidates(selection.index.cpu().numpy(), round_, selection.score.cpu().numpy(), ps)

    def query_and_update(self, n: int) -> QueryRecord:
        """Query ``n`` training items, label them for the next round, and return the record."""
        selection = self.query(n)
        maybe_die("query", self.round)
        record = self._label(self.train_pool, selection, self.round + 1)
        self.round += 1
        return record

    def label_initial(self, size: int, mode: str, val_size: int = 0) -> list[QueryRecord]:
        """Label the initial training set (``random`` or ``balanced``) and the validation set."""
        pick = initial_indices(self.train_pool, size, mode, self.streams.numpy("initial"))
        records = [self.train_pool.label_and_record(pick, 0, np.full(len(pick), np.nan))]
        if val_size and self.val_pool is not None:
            records.append(self._label(self.val_pool, self.query_val(val_size), 0))
        return records

    def reset_model(self) -> None:
        """Reset the model to its initial state.

        ``snapshot``: the weights captured at the first ``on_train_start``; ``scratch``: fresh
        weights drawn from this round's weight stream; ``warm``: keep the trained weights.
        """
        if self.reset == "snapshot" and self.initial_model_state is not None:
            self.net.load_state_dict(self.initial_model_state)
        elif self.reset == "scratch":
            self.net.load_state_dict(self._new_net(self.round).state_dict())

    # ---- checkpoints -----------------------------------------------------------------------
    def run_state(self) -> dict[str, Any]:
        """What a resumed run needs: round, pools, weights, snapshot and the acquisition's state."""
        acquisition_state = getattr(self.acquisition, "state_dict", None)
        return {
            "round": self.round,
            "train_pool": self.train_pool.state_dict(),
            "val_pool": self.val_pool.state_dict() if self.val_pool is not None else None,
            "net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "initial_model_state": self.initial_model_state,
            "acquisition": acquisition_state() if callable(acquisition_state) else None,
        }

    def load_run_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`run_state` saved."""
        self.round = int(state["round"])
        self.train_pool.load_state_dict(state["train_pool"])
        if self.val_pool is not None and state["val_pool"] is not None:
            self.val_pool.load_state_dict(state["val_pool"])
        self.net.load_state_dict(state["net"])
        self.initial_model_state = state["initial_model_state"]
        if state["acquisition"] is not None:
            self.acquisition.load_state_dict(state["acquisition"])  # type: ignore[attr-defined]
