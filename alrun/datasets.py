"""Dataset builders: each returns a :class:`Splits` (training portion and fixed test set).

Builders are the ``_target_`` of ``configs/dataset/*.yaml``. They run offline: data comes from
installed packages or from files fetched beforehand, never from the network at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from alrun.tensors import TensorData


@dataclass(frozen=True)
class Splits:
    """A dataset split into a training portion (the pool) and a fixed test set."""

    name: str
    train: TensorData
    test: TensorData
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input item."""
        return tuple(self.train.x.shape[1:])


def split_arrays(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, split_seed: int) -> Splits:
    """Stratified, seeded train/test split of arrays into a :class:`Splits`.

    Args:
        name: dataset name for records.
        x: inputs, first axis = items.
        y: integer class labels ``0 .. C-1``.
        test_fraction: share of items held out as the fixed test set.
        split_seed: seed of the split (kept fixed across runs so every run tests on the same items).
    """
    index = np.arange(len(y))
    tr, te = train_test_split(index, test_size=test_fraction, stratify=y, random_state=split_seed)
    tr, te = np.sort(tr), np.sort(te)

    def part(rows: np.ndarray) -> TensorData:
        return TensorData(
            torch.as_tensor(x[rows], dtype=torch.float32),
            torch.as_tensor(y[rows], dtype=torch.long),
            torch.as_tensor(rows, dtype=torch.long),
        )

    return Splits(name, part(tr), part(te), int(y.max()) + 1)


def digits(test_fraction: float = 0.25, split_seed: int = 0) -> Splits:
    """scikit-learn's 8x8 handwritten digits (1,797 items, 10 classes), pixels scaled by 1/16.

    Args:
        test_fraction: share held out as the test set (0.25 gives a 1,347-item pool, 450 test).
        split_seed: seed of the stratified split.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return split_arrays("digits", bunch.data / 16.0, bunch.target, test_fraction, split_seed)


def hold_out(data: TensorData, size: int, seed: int) -> tuple[TensorData, TensorData]:
    """Split ``size`` items off ``data`` (stratified when every class can give one), seeded.

    Args:
        data: the training portion.
        size: items to hold out (0 gives an empty second part).
        seed: seed of the split.

    Returns:
        ``(rest, held_out)``, each in ascending row order.
    """
    rows = np.arange(len(data))
    if size == 0:
        return data, data.subset(torch.as_tensor(rows[:0]))
    y = data.y.cpu().numpy()
    stratify = y if size >= len(np.unique(y)) and np.bincount(y).min() >= 2 else None
    rest, held = train_test_split(rows, test_size=size, stratify=stratify, random_state=seed % 2**32)
    return data.subset(torch.as_tensor(np.sort(rest))), data.subset(torch.as_tensor(np.sort(held)))
