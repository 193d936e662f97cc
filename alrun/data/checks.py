"""Checks on loaded arrays: each problem is one :class:`~alrun.errors.DataError` line that names
the source (a file, or a bundled dataset) and what is wrong with it.

Labels of any type are accepted and mapped to codes ``0 .. C-1`` in sorted order of their values
(``np.unique``): ``{3, 5, 7}`` become ``{0, 1, 2}``, ``{"cat", "dog"}`` become ``{0, 1}``. Float
labels must be whole numbers (a continuous target is a regression problem, not classification).
"""

from __future__ import annotations

import numpy as np

from alrun.errors import DataError


def check_features(source: str, x: np.ndarray, what: str = "X") -> np.ndarray:
    """``x`` as float32, after checking it is numeric, has one row per item, and is finite.

    Args:
        source: the file or dataset, for messages.
        x: the inputs, first axis = items.
        what: the array's name in ``source``, for messages.
    """
    if x.ndim < 2 or x.shape[0] == 0 or min(x.shape[1:]) == 0:
        raise DataError(
            f"{source}: {what} must have one row per item and at least one feature (got shape {x.shape})"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: {what} is not numeric (dtype {x.dtype}); encode the features as numbers")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{source}: {what} has {int(bad.sum())} NaN or infinite values (first in row {row}); "
            "impute or drop them first"
        )
    return x


def check_rows(source: str, x: np.ndarray, y: np.ndarray, xname: str = "X", yname: str = "y") -> None:
    """Refuse inputs and labels of different lengths."""
    if len(x) != len(y):
        raise DataError(f"{source}: {xname} has {len(x)} rows but {yname} has {len(y)} labels")


def show(value: object) -> str:
    """``repr`` of a label value as a plain Python value (``2``, ``'cat'``, not ``np.int64(2)``)."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _missing(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind != "O":
        return np.zeros(len(y), bool)
    import pandas as pd  # object labels only: pandas knows every kind of missing value

    return np.asarray(pd.isna(y), dtype=bool)


def encode_labels(
    source: str, y: np.ndarray, classes: np.ndarray | None = None, what: str = "y"
) -> tuple[np.ndarray, np.ndarray]:
    """Map labels to integer codes ``0 .. C-1`` (sorted order of the values).

    Args:
        source: the file or dataset, for messages.
        y: one label per item (numbers, strings or booleans).
        classes: the class values to code against (the training labels' classes, for a test
            set); ``None`` takes them from ``y``.
        what: the array's name in ``source``, for messages.

    Returns:
        ``(codes, classes)``: int64 codes and the sorted class values.
    """
    if y.ndim != 1:
        raise DataError(f"{source}: {what} must be 1-D, one label per item (got shape {y.shape})")
    missing = _missing(y)
    if missing.any():
        raise DataError(
            f"{source}: {what} has {int(missing.sum())} missing labels (first in row {int(missing.argmax())})"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y) & (y == np.round(y))):
            raise DataError(
                f"{source}: {what} has non-integer values such as {show(y[y != np.round(y)][0])}; "
                "alrun does classification and needs class labels"
            )
        y = y.astype(np.int64)
    if y.dtype.kind == "O":
        y = y.astype(str)
    if classes is None:
        classes, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64), classes
    known = np.isin(y, classes)
    if not known.all():
        extra = ", ".join(show(v) for v in np.unique(y[~known])[:5])
        raise DataError(f"{source}: {what} has labels not among the training labels: {extra}")
    return np.searchsorted(classes, y).astype(np.int64), classes


def check_classes(
    source: str, codes: np.ndarray, classes: np.ndarray, what: str = "y", min_count: int = 2
) -> None:
    """Refuse labels with one class only, or a class with fewer than ``min_count`` items (the
    default 2 is what a stratified split needs)."""
    if len(classes) < 2:
        raise DataError(f"{source}: {what} has one class only ({show(classes[0])}); need at least 2 classes")
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < min_count:
        raise DataError(
            f"{source}: class {show(classes[counts.argmin()])} has only {counts.min()} item; "
            "a stratified split needs at least 2 per class"
        )
