"""Run-time invariants. A violation is a bug in alrun: the run fails loudly with InvariantError."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alrun.active.pool import QueryRecord
from alrun.active.strategy import Strategy
from alrun.errors import InvariantError


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantError(message)


def check_separation(strategy: Strategy) -> None:
    """Validation and test items never enter training: the labelled training items' dataset indices
    are disjoint from the validation pool's and the test set's."""
    train = strategy.train_pool.to_dataset(strategy.train_pool.labelled())
    test = strategy.test_data.index.cpu().numpy()
    _require(not np.intersect1d(train, test).size, "a test item is in the training set")
    if strategy.val_pool is not None:
        _require(
            not np.intersect1d(train, strategy.val_pool.dataset_index).size,
            "a validation item is in training",
        )


def check_round(strategy: Strategy, sizes: Sequence[int], records: Sequence[QueryRecord]) -> None:
    """After a round's query: the query added exactly its planned size, as recorded, once each."""
    pool, r = strategy.train_pool, strategy.round
    added = pool.labelled_in(r)
    recorded = np.concatenate(
        [rec.pool_index for rec in records if rec.pool == "train"] or [np.empty(0, int)]
    )
    _require(len(added) == sizes[r - 1], f"round {r} labelled {len(added)} items, planned {sizes[r - 1]}")
    _require(
        np.array_equal(np.sort(recorded), added), f"round {r}: queries.csv rows differ from the pool's labels"
    )
    _require(
        pool.n_labelled == int(np.count_nonzero(pool.labelled_round >= 0)), "labelled count is inconsistent"
    )
    check_separation(strategy)


def check_finished(strategy: Strategy, initial_size: int, budget: int) -> None:
    """At the end: the labels the queries acquired (the budget, or less for a run stopped early) were
    spent exactly."""
    n = strategy.train_pool.n_labelled
    _require(n == initial_size + budget, f"{n} training labels at the end, planned {initial_size + budget}")
