"""In-memory tensor data and the batch iterables the Trainer and the evaluators read.

Data lives as whole tensors (on the training device once a fit starts). Batches are contiguous
slices of one shuffled gather per epoch: no per-item ``__getitem__``, no collate, no workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorData:
    """Inputs ``x`` and integer targets ``y`` of one split, with each row's dataset index."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, rows: torch.Tensor) -> TensorData:
        """The rows ``rows`` of this split (a gather)."""
        return TensorData(self.x[rows], self.y[rows], self.index[rows])

    def to(self, device: torch.device | str) -> TensorData:
        """This split on ``device``."""
        return TensorData(self.x.to(device), self.y.to(device), self.index.to(device))


class ShuffledBatches:
    """What one epoch of training reads: a seeded draw of the labelled items, one gather per epoch,
    then contiguous mini-batch slices.

    Args:
        x: inputs, on the training device.
        y: targets, on the training device.
        batch_size: items per optimizer step (the last step of an epoch may be smaller).
        generator: CPU generator of the round's training stream; each epoch makes one draw from it.
        epoch_samples: ``None`` for ordinary epochs (a fresh permutation of the items); ``K`` for
            fixed-length epochs of ``K`` items drawn uniformly **with replacement** (BatchBALD's
            training loop: the same number of steps per epoch whatever the number of labels).
        shard: ``(rank, ranks)``: under data-parallel training every rank draws the same epoch and
            takes rows ``rank, rank + ranks, ...`` of each mini-batch (a mini-batch with fewer rows
            than ranks gives a rank without a row of its own the row ``rank % rows``).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
        epoch_samples: int | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.x, self.y = x, y
        self.shard = shard
        self.batch_size = batch_size
        self.generator = generator
        self.epoch_samples = epoch_samples

    @property
    def items_per_epoch(self) -> int:
        """Items one epoch trains on."""
        return self.epoch_samples or len(self.y)

    def __len__(self) -> int:
        return -(-self.items_per_epoch // self.batch_size)

    def draw(self) -> torch.Tensor:
        """One epoch's row order: a permutation, or ``epoch_samples`` rows drawn with replacement."""
        if self.epoch_samples:
            return torch.randint(len(self.y), (self.epoch_samples,), generator=self.generator)
        return torch.randperm(len(self.y), generator=self.generator)

    def epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch's items, in the order of a fresh :meth:`draw` (one gather)."""
        rows = self.draw().to(self.y.device)
        return self.x[rows], self.y[rows]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        xs, ys = self.epoch()
        me, ranks = self.shard
        for part in epoch_slices(len(ys), self.batch_size):
            if ranks > 1:
                end = min(part.stop, len(ys))
                n = end - part.start
                part = (
                    slice(part.start + me, end, ranks)
                    if me < n
                    else slice(part.start + me % n, part.start + me % n + 1)
                )
            yield xs[part], ys[part]


class ChunkBatches:
    """Fixed-order chunks of a split, for validation, testing and scoring.

    Args:
        x: inputs.
        y: targets (or ``None`` for unlabelled scoring).
        size: items per chunk.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, size: int) -> None:
        self.x, self.y, self.size = x, y, size

    def __len__(self) -> int:
        return -(-len(self.x) // self.size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.x), self.size):
            stop = start + self.size
            y = self.y[start:stop] if self.y is not None else torch.empty(0)
            yield self.x[start:stop], y


def epoch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """The mini-batch slices of one epoch of ``n`` items."""
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size)


def fingerprint(*parts: TensorData) -> str:
    """A hash of the data a run is made on: inputs, labels and dataset indices of every part, in
    order, with their shapes and dtypes (a resume on other data is refused)."""
    digest = hashlib.sha256()
    for part in parts:
        for tensor in (part.x, part.y, part.index):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{tuple(t.shape)}{t.dtype};".encode())
            digest.update(t.numpy().data if t.numel() else b"")
    return digest.hexdigest()[:16]
