"""Pool state: one array over a pool of items, and every index conversion alrun needs.

``labelled_round[i]`` is the round at which pool item ``i`` got its label (0 = initial set), or -1
while it is unlabelled. Labelled and unlabelled sets are views derived from it. Three index spaces
exist and are converted only here:

* *pool index*: position in this pool (``0 .. len(pool)-1``);
* *dataset index*: position in the original dataset, before any split (``dataset_index[pool_i]``);
* *candidate index*: position in the list of currently unlabelled items, ascending pool order
  (what ``query_strategy`` returns, as in deeplay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alrun.data.tensors import TensorData

UNLABELLED = -1


@dataclass
class QueryRecord:
    """Items labelled in one step: their pool, the round they join, indices and scores (best first)."""

    pool: str
    round: int
    pool_index: np.ndarray
    dataset_index: np.ndarray
    score: np.ndarray
    pool_score: np.ndarray | None = None
    n_scored: int | None = None


def subset_to_candidates(positions: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
    """Candidate indices of ``positions`` taken in ``subset`` (a scored subsample of the candidates)."""
    return subset[positions.cpu()]


class ActivePool:
    """Labelling state of a pool of items, over the items' tensors.

    Args:
        data: the pool's items; ``data.index`` holds each item's dataset index. The targets are
            the simulated oracle: alrun reads them only for labelled items (and for class-balanced
            initial sets).
        name: a short name for messages and records (``train`` or ``val``).
    """

    def __init__(self, data: TensorData, name: str = "train") -> None:
        self.data = data
        self.dataset_index = data.index.cpu().numpy().astype(np.int64)
        self.targets = data.y.cpu().numpy()
        self.name = name
        self.labelled_round = np.full(len(self.dataset_index), UNLABELLED, dtype=np.int64)

    def to(self, device: torch.device | str) -> ActivePool:
        """Move the pool's tensors to ``device`` (state unchanged); returns the pool."""
        if self.data.x.device != torch.device(device):
            self.data = self.data.to(device)
        return self

    def gather(self, pool_index: np.ndarray) -> TensorData:
        """The items at ``pool_index``, on the pool's device."""
        rows = torch.as_tensor(np.asarray(pool_index, dtype=np.int64), device=self.data.x.device)
        return self.data.subset(rows)

    def labelled_data(self) -> TensorData:
        """The labelled items, in ascending pool order."""
        return self.gather(self.labelled())

    def unlabelled_rows(self, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of ``data`` (on its device) holding the unlabelled items, or the given candidates of them."""
        rows = torch.as_tensor(self.unlabelled())
        return (rows if candidates is None else rows[candidates]).to(self.data.x.device)

    def unlabelled_data(self) -> TensorData:
        """The unlabelled items, in candidate order."""
        return self.gather(self.unlabelled())

    def __len__(self) -> int:
        return len(self.labelled_round)

    @property
    def n_labelled(self) -> int:
        """Number of labelled items."""
        return int(np.count_nonzero(self.labelled_round != UNLABELLED))

    def labelled(self) -> np.ndarray:
        """Pool indices of the labelled items, ascending."""
        return np.flatnonzero(self.labelled_round != UNLABELLED)

    def unlabelled(self) -> np.ndarray:
        """Pool indices of the unlabelled items, ascending (the candidate order)."""
        return np.flatnonzero(self.labelled_round == UNLABELLED)

    def labelled_in(self, round_: int) -> np.ndarray:
        """Pool indices of the items labelled at ``round_``, ascending."""
        return np.flatnonzero(self.labelled_round == round_)

    def candidates_to_pool(self, candidate_index: np.ndarray) -> np.ndarray:
        """Convert indices into the current unlabelled list to pool indices."""
        unlabelled = self.unlabelled()
        idx = np.asarray(candidate_index, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(unlabelled)):
            raise IndexError(f"candidate index out of range for {len(unlabelled)} unlabelled items")
        return unlabelled[idx]

    def to_dataset(self, pool_index: np.ndarray) -> np.ndarray:
        """Convert pool indices to dataset indices."""
        return self.dataset_index[np.asarray(pool_index, dtype=np.int64)]

    def label(self, pool_index: np.ndarray, round_: int) -> None:
        """Label pool items at ``round_``; labelling an item twice is an error.

        Args:
            pool_index: pool indices of the items to label (no duplicates).
            round_: the round the items join the training set (>= 0).
        """
        idx = np.asarray(pool_index, dtype=np.int64)
        if round_ < 0:
            raise ValueError(f"round must be >= 0, got {round_}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"pool index out of range for a pool of {len(self)} items")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"duplicate indices in one labelling of the {self.name} pool")
        already = idx[self.labelled_round[idx] != UNLABELLED]
        if already.size:
            raise ValueError(f"{self.name} pool items already labelled: {already[:5].tolist()}")
        self.labelled_round[idx] = round_

    def label_and_record(
        self,
        pool_index: np.ndarray,
        round_: int,
        score: np.ndarray,
        pool_score: np.ndarray | None = None,
    ) -> QueryRecord:
        """Label pool items at ``round_`` and return the record of it."""
        self.label(pool_index, round_)
        return QueryRecord(
            self.name,
            round_,
            np.asarray(pool_index),
            self.to_dataset(pool_index),
            score,
            pool_score,
        )

    def label_candidates(
        self,
        candidate_index: np.ndarray,
        round_: int,
        score: np.ndarray,
        pool_score: np.ndarray | None = None,
    ) -> QueryRecord:
        """Label items given by candidate index (what ``query_strategy`` returns); see :meth:`label`."""
        return self.label_and_record(self.candidates_to_pool(candidate_index), round_, score, pool_score)

    def state_dict(self) -> dict[str, Any]:
        """The labelling state, for checkpoints."""
        return {"labelled_round": self.labelled_round.copy(), "name": self.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the labelling state saved by :meth:`state_dict`."""
        rounds = np.asarray(state["labelled_round"], dtype=np.int64)
        if rounds.shape != self.labelled_round.shape:
            raise ValueError(f"pool state has {len(rounds)} items, this pool has {len(self)}")
        self.labelled_round = rounds.copy()


def initial_indices(pool: ActivePool, size: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Pick the initial labelled set: ``size`` pool indices, uniformly or class-balanced.

    Args:
        pool: the pool to pick from (its unlabelled items are candidates).
        size: number of items.
        mode: ``random`` (uniform without replacement) or ``balanced`` (as equal per class as
            the class sizes allow, the remainder spread over randomly ordered classes).
        rng: the initial-set stream.
    """
    candidates = pool.unlabelled()
    if size > len(candidates):
        raise ValueError(f"initial set of {size} is larger than the {len(candidates)} candidates")
    if mode == "random":
        return np.sort(rng.choice(candidates, size=size, replace=False))
    if mode != "balanced":
        raise ValueError(f"unknown initial mode {mode!r} (choose from: random, balanced)")
    by_class = {
        c: rng.permutation(candidates[pool.targets[candidates] == c])
        for c in np.unique(pool.targets[candidates])
    }
    classes = rng.permutation(list(by_class))
    chosen: list[int] = []
    depth = 0
    while len(chosen) < size:
        for c in classes:
            if len(chosen) < size and depth < len(by_class[c]):
                chosen.append(int(by_class[c][depth]))
        depth += 1
    return np.sort(np.asarray(chosen, dtype=np.int64))
