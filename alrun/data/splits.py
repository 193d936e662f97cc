"""Dataset builders: each returns a :class:`Splits` (training portion and fixed test set).

Builders are the ``_target_`` of ``configs/dataset/*.yaml``. They run offline: data comes from
installed packages or from files fetched beforehand, never from the network at run time.

Scaling (the ``scaling`` setting of every builder) is fitted on the training portion only, the
pool from which training and validation labels are drawn (its inputs, never its labels), and
applied unchanged to the test set: ``standardize`` = zero mean, unit variance per feature
(scikit-learn's ``StandardScaler``; constant features are left centred); ``normalize`` = one mean
and one standard deviation over all input values (for images); ``none`` = as loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from alrun.config.checks import check_int, check_number
from alrun.data.checks import check_classes, encode_labels
from alrun.data.tensors import TensorData
from alrun.errors import ConfigError, DataError

SCALINGS = ("none", "standardize", "normalize")


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


def scale(x_train: np.ndarray, x_test: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Scale both parts with statistics of ``x_train`` only (see the module docstring).

    Args:
        x_train: training-portion inputs, first axis = items.
        x_test: test inputs (same item shape).
        scaling: ``none``, ``standardize`` or ``normalize``.
    """
    if scaling not in SCALINGS:
        raise ConfigError(f"dataset.scaling={scaling!r} is not allowed (choose from: {', '.join(SCALINGS)})")
    if scaling == "none":
        return x_train, x_test
    if scaling == "normalize":
        mean, std = float(x_train.mean(dtype=np.float64)), float(x_train.std(dtype=np.float64))
        std = std if std > 0 else 1.0
        return (x_train - mean) / std, (x_test - mean) / std
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train.reshape(len(x_train), -1))

    def apply(x: np.ndarray) -> np.ndarray:
        return scaler.transform(x.reshape(len(x), -1)).reshape(x.shape).astype(np.float32)

    return apply(x_train), apply(x_test)


def _part(x: np.ndarray, y: np.ndarray, index: np.ndarray) -> TensorData:
    return TensorData(
        torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
        torch.as_tensor(y, dtype=torch.long),
        torch.as_tensor(index, dtype=torch.long),
    )


def assemble(
    name: str,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_classes: int,
    scaling: str = "none",
) -> Splits:
    """A :class:`Splits` from ``(x, y, dataset_index)`` parts, scaled with training statistics.

    Args:
        name: dataset name for records.
        train: training-portion inputs, integer labels ``0 .. C-1`` and dataset indices.
        test: the same for the test set.
        n_classes: number of classes ``C``.
        scaling: ``none``, ``standardize`` or ``normalize`` (fitted on ``train`` only).
    """
    x_train, x_test = scale(train[0], test[0], scaling)
    return Splits(name, _part(x_train, *train[1:]), _part(x_test, *test[1:]), n_classes)


def check_fraction(test_fraction: float) -> None:
    """Refuse a test fraction that is not a number in ``(0, 1)``."""
    check_number("dataset.test_fraction", test_fraction)
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"dataset.test_fraction={test_fraction} is out of range (allowed: 0 < f < 1)")


def stratified_rows(source: str, y: np.ndarray, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of the rows of ``y``: ``(rest, picked)``, each ascending.

    Args:
        source: the data's file or name, for messages.
        y: integer labels.
        size: items to pick (an int) or a fraction of them (a float in ``(0, 1)``).
        seed: seed of the split.
    """
    rows = np.arange(len(y))
    try:
        rest, picked = train_test_split(rows, test_size=size, stratify=y, random_state=seed % 2**32)
    except ValueError as exc:
        raise DataError(f"{source}: cannot split {len(y)} items stratified by class: {exc}") from None
    return np.sort(rest), np.sort(picked)


def split_arrays(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float,
    split_seed: int,
    scaling: str = "none",
    source: str | None = None,
) -> Splits:
    """Stratified, seeded train/test split of arrays into a :class:`Splits`.

    Args:
        name: dataset name for records.
        x: inputs, first axis = items.
        y: class labels; coded ``0 .. C-1`` in sorted order of their values
            (:func:`~alrun.data.checks.encode_labels`), so ``n_classes`` is the number of distinct labels.
        test_fraction: share of items held out as the fixed test set.
        split_seed: seed of the split (kept fixed across runs so every run tests on the same items).
        scaling: ``none``, ``standardize`` or ``normalize`` (fitted on the training portion).
        source: the data's file, for messages (default: ``name``).
    """
    check_fraction(test_fraction)
    check_int("dataset.split_seed", split_seed, 0)
    y, classes = encode_labels(source or name, y)
    check_classes(source or name, y, classes)
    tr, te = stratified_rows(source or name, y, test_fraction, split_seed)
    return assemble(name, (x[tr], y[tr], tr), (x[te], y[te], te), len(classes), scaling)


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
    classes = len(np.unique(y))
    both_parts_fit = size >= classes and len(y) - size >= classes  # else sklearn cannot stratify
    stratify = y if both_parts_fit and np.bincount(y).min() >= 2 else None
    rest, held = train_test_split(rows, test_size=size, stratify=stratify, random_state=seed % 2**32)
    return data.subset(torch.as_tensor(np.sort(rest))), data.subset(torch.as_tensor(np.sort(held)))
