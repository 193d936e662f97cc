"""Data from the user's own Python: a dataset ``_target_`` that returns arrays, a dict or torch Datasets.

A dataset target may return a :class:`~alrun.data.splits.Splits` (alrun's own builders do), or

* ``(X, y)``: inputs (one row per item, any item shape) and labels; a stratified, seeded
  ``test_fraction`` becomes the test set;
* ``(X, y, X_test, y_test)``, or a dict with the keys ``X``, ``y`` (and ``X_test``, ``y_test``);
* a map-style ``torch.utils.data.Dataset`` of ``(x, y)`` items, or a ``(train, test)`` pair of them.

Arrays may be NumPy arrays, tensors or lists. Everything is checked with the lines of
``dataset=npz`` (:func:`from_arrays`), each naming the target. ``dataset=python``
(:func:`python`) names the user's function or class as ``dataset.source`` and holds only the keys
that apply: ``test_fraction``, ``split_seed`` and ``scaling`` (``none`` by default: the data as given).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from alrun.config.instantiation import instantiate_checked
from alrun.data.checks import check_classes, check_features, check_rows, encode_labels
from alrun.data.splits import Splits, assemble, split_arrays
from alrun.errors import ConfigError, DataError

KEYS = ("X", "y", "X_test", "y_test")
FORMS = (
    "return (X, y), (X, y, X_test, y_test), a dict with keys X, y (and X_test, y_test), or a map-style "
    "torch Dataset of (x, y) items (or a (train, test) pair of them)"
)


def build_dataset(node: DictConfig) -> Splits:
    """The ``dataset`` config group's data: what its target returns, as :class:`Splits`."""
    built = instantiate_checked(node, "dataset")
    if isinstance(built, Splits):
        return built
    return to_splits(built, str(node.get("_target_")))


def python(
    source: Any = None, test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "none"
) -> Splits:
    """``dataset=python``: the data returned by ``source`` (a config node naming the user's function
    or class with its settings), checked, split, scaled and indexed.

    Args:
        source: the node of the user's target (``dataset.source._target_=mymodule.load``).
        test_fraction: share of items held out as the test set when the source gives none.
        split_seed: seed of the stratified split.
        scaling: ``none`` (default), ``standardize`` or ``normalize``.
    """
    if not isinstance(source, Mapping) or not source.get("_target_"):
        raise ConfigError(
            "dataset=python needs dataset.source._target_, the function or class returning your data "
            "(usage: alrun dataset=python dataset.source._target_=mymodule.load)"
        )
    node = source if isinstance(source, DictConfig) else DictConfig(dict(source))
    data = instantiate_checked(node, "dataset.source")
    return to_splits(data, str(source["_target_"]), test_fraction, split_seed, scaling)


def to_splits(
    data: Any, source: str, test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "none"
) -> Splits:
    """:class:`Splits` from what a dataset target returned (see the module docstring).

    Args:
        data: the returned value.
        source: the target's dotted name, for messages.
        test_fraction: share held out as the test set when ``data`` gives none.
        split_seed: seed of the stratified split.
        scaling: ``none``, ``standardize`` or ``normalize`` (fitted on the training portion).
    """
    name = source.rsplit(".", 1)[-1]
    return from_arrays(name, source, as_arrays(data, source), test_fraction, split_seed, scaling)


def as_arrays(data: Any, source: str) -> dict[str, Any]:
    """The arrays ``X``, ``y`` (and ``X_test``, ``y_test``) of a returned value."""
    if isinstance(data, Mapping):
        extra = sorted(str(k) for k in data if k not in KEYS)
        if extra:
            raise DataError(f"{source}: returned a dict with keys {extra} (allowed: {', '.join(KEYS)})")
        return dict(data)
    if isinstance(data, torch.utils.data.Dataset):
        x, y = dataset_arrays(data, "the dataset", source)
        return {"X": x, "y": y}
    if isinstance(data, tuple | list) and len(data) == 2 and _is_dataset(data[0]):
        (x, y), (xt, yt) = (
            dataset_arrays(d, p, source) for d, p in zip(data, ("train", "test"), strict=True)
        )
        return {"X": x, "y": y, "X_test": xt, "y_test": yt}
    if isinstance(data, tuple | list) and len(data) in (2, 4):
        return dict(zip(KEYS, data, strict=False))
    raise DataError(f"{source}: returned a {type(data).__name__}; {FORMS}")


def _is_dataset(value: Any) -> bool:
    return isinstance(value, torch.utils.data.Dataset)


def dataset_arrays(data: Any, part: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of a map-style Dataset of ``(x, y)`` items, read item by item."""
    iterable = isinstance(data, torch.utils.data.IterableDataset)
    if iterable or not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise DataError(f"{source}: {part} is not a map-style Dataset (it needs __len__ and __getitem__)")
    if len(data) == 0:
        raise DataError(f"{source}: {part} is empty")
    xs, ys = [], []
    for i in range(len(data)):
        item = data[i]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise DataError(f"{source}: items of {part} must be (x, y) pairs (item {i} is not)")
        xs.append(_array(item[0]))
        ys.append(_array(item[1]))
    if any(y.ndim for y in ys):
        shape = next(y.shape for y in ys if y.ndim)
        raise DataError(f"{source}: labels of {part} must be one class per item, got shape {shape}")
    return np.stack(xs), np.stack(ys)


def _array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def from_arrays(
    name: str, source: str, arrays: Mapping[str, Any], test_fraction: float, split_seed: int, scaling: str
) -> Splits:
    """:class:`Splits` from arrays ``X``, ``y`` and optionally ``X_test``, ``y_test``, each problem one
    :class:`~alrun.errors.DataError` line starting with ``source`` (a file, or a target's name).

    Args:
        name: the dataset's name for records.
        source: where the arrays come from, for messages.
        arrays: the arrays by name.
        test_fraction: share held out as the test set when there is no ``X_test``.
        split_seed: seed of the stratified split.
        scaling: ``none``, ``standardize`` or ``normalize`` (fitted on the training portion).
    """
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{source}: no array {key!r} (found: {', '.join(sorted(arrays)) or 'none'})")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{source}: X_test and y_test must come together (found only one of them)")
    x = check_features(source, _array(arrays["X"]), "X")
    y, classes = encode_labels(source, _array(arrays["y"]), what="y")
    check_rows(source, x, y)
    if "X_test" not in arrays:
        return split_arrays(name, x, y, test_fraction, split_seed, scaling, source=source)
    xt = check_features(source, _array(arrays["X_test"]), "X_test")
    if xt.shape[1:] != x.shape[1:]:
        raise DataError(f"{source}: X_test items have shape {xt.shape[1:]} but X items have {x.shape[1:]}")
    yt, _ = encode_labels(source, _array(arrays["y_test"]), classes, what="y_test")
    check_rows(source, xt, yt, "X_test", "y_test")
    check_classes(source, y, classes, min_count=1)
    train = (x, y, np.arange(len(y)))
    return assemble(name, train, (xt, yt, np.arange(len(yt)) + len(y)), len(classes), scaling)
