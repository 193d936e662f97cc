"""The querying half of the Strategy API: ``query``, ``query_and_update``, ``query_strategy``,
``query_train``, ``query_val`` and the initial labelling (deeplay's names and meanings)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from alrun import collectives
from alrun.active.pool import ActivePool, QueryRecord, initial_indices, subset_to_candidates
from alrun.run.safety import maybe_die
from alrun.seeding import Streams
from alrun.strategies import Acquisition, QueryContext, Selection
from alrun.strategies.select import subsample


class Querying:
    """Mixin of :class:`~alrun.active.strategy.Strategy` that picks and labels items."""

    net: nn.Module
    acquisition: Acquisition
    streams: Streams
    train_pool: ActivePool
    val_pool: ActivePool | None
    round: int
    eval_batch_size: int
    pool_subsample: int | None
    inference_device: torch.device

    def query_strategy(self, pool: ActivePool, n: int) -> Selection:
        """Pick ``n`` of ``pool``'s unlabelled items (indices relative to its unlabelled list)."""
        self.net.to(self.inference_device).eval()
        pool.to(self.inference_device)
        gen = self.streams.torch("subsample", self.round)
        scored = subsample(len(pool.unlabelled()), self.pool_subsample, gen)
        ctx = QueryContext(
            x=pool.data.x,
            rows=pool.unlabelled_rows(scored),
            net=self.net,
            chunk_size=self.eval_batch_size,
            tiebreak=self.streams.torch("tiebreak", self.round),
            acquisition=self.streams.torch("acquisition", self.round),
            labelled_x=self.train_pool.to(self.inference_device).labelled_data().x,
            mc_seed=self.streams.entropy("mc_dropout", self.round),
        )
        picked = collectives.from_rank_zero(self.acquisition.select(ctx, n))  # one query, every rank
        index = picked.index if scored is None else subset_to_candidates(picked.index, scored)
        return Selection(index, picked.score, picked.pool_score, n_scored=len(ctx))

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
        record = pool.label_candidates(
            selection.index.cpu().numpy(), round_, selection.score.cpu().numpy(), ps
        )
        return dataclasses.replace(record, n_scored=selection.n_scored)

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
