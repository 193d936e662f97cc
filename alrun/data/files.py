"""The user's own data: ``dataset=npz`` (numpy arrays) and ``dataset=csv`` (a table, via pandas).

Without a separate test set, a seeded stratified ``test_fraction`` of the items becomes the test
set (``split_seed`` stays fixed across run seeds). Labels of any type are coded ``0 .. C-1`` in
sorted order of their values (:func:`alrun.data.checks.encode_labels`). Every problem with a file
is one :class:`~alrun.errors.DataError` line that names the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alrun.data.checks import check_classes, check_features, encode_labels
from alrun.data.python import from_arrays
from alrun.data.splits import Splits, split_arrays
from alrun.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd


def existing_file(path: str | None, dataset: str, usage: str) -> Path:
    """``path`` as an existing file; a ConfigError when unset, a DataError when missing."""
    if not path:
        raise ConfigError(f"dataset={dataset} needs dataset.path (usage: alrun dataset={dataset} {usage})")
    file = Path(path).expanduser()
    if file.is_dir():
        raise DataError(f"{file}: a folder, not a file (dataset.path names the {dataset} file)")
    if not file.is_file():
        raise DataError(f"{file}: no such file (dataset.path)")
    return file


def read_npz(file: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive (written by ``np.savez``), loaded without pickle."""
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{file}: cannot read as .npz ({' '.join(str(exc).split())})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{file}: not an .npz archive (write it with np.savez(path, X=..., y=...))")
    with loaded:
        try:
            return {key: loaded[key] for key in loaded.files}
        except ValueError as exc:  # object arrays need pickle, which is off
            raise DataError(f"{file}: cannot read as .npz ({' '.join(str(exc).split())})") from None


def npz(
    path: str | None = None, test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "standardize"
) -> Splits:
    """Arrays ``X`` (inputs, one row per item, any item shape) and ``y`` (labels) from an ``.npz``.

    Optional ``X_test`` and ``y_test`` give a fixed test set (``test_fraction`` is then unused).

    Args:
        path: the ``.npz`` file.
        test_fraction: share of items held out as the test set when there is no ``X_test``.
        split_seed: seed of the stratified split.
        scaling: ``standardize`` (per feature, default), ``normalize`` or ``none``.
    """
    file = existing_file(path, "npz", "dataset.path=FILE.npz")
    return from_arrays("npz", str(file), read_npz(file), test_fraction, split_seed, scaling)


def _frame_problem(df: pd.DataFrame, target: str, drop: Sequence[str]) -> str | None:
    """What is wrong with the table's columns, or ``None``."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for column in (target, *drop):
        if column not in df.columns:
            return f"no column {column!r} (columns: {', '.join(map(str, df.columns[:20]))})"
    features = df.drop(columns=[target, *drop])
    if features.shape[1] == 0:
        return "no feature columns left after dropping the target and dataset.drop"
    text = [str(c) for c in features.columns if not (is_numeric_dtype(df[c]) or is_bool_dtype(df[c]))]
    if text:
        names = ", ".join(map(repr, text[:5]))
        return f"feature column(s) {names} are not numeric; encode them or add them to dataset.drop"
    for column in [target, *features.columns]:
        missing = df[column].isna().to_numpy()
        if missing.any():
            line = int(missing.argmax()) + 2  # +1 for the header, +1 for 1-based lines
            count = int(missing.sum())
            return f"column {column!r} has {count} missing values (first on line {line}); impute or drop them"
    return None


def csv(
    path: str | None = None,
    target: str | None = None,
    drop: Sequence[str] = (),
    sep: str = ",",
    test_fraction: float = 0.25,
    split_seed: int = 0,
    scaling: str = "standardize",
) -> Splits:
    """A table with a header row: one column is the label (``target``), the others numeric features.

    Args:
        path: the CSV file.
        target: the label column.
        drop: columns that are neither features nor the label (ids, names, dates).
        sep: field separator.
        test_fraction: share of items held out as the test set.
        split_seed: seed of the stratified split.
        scaling: ``standardize`` (per feature, default), ``normalize`` or ``none``.
    """
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    file = existing_file(path, "csv", "dataset.path=FILE.csv dataset.target=COLUMN")
    if not target:
        raise ConfigError("dataset=csv needs dataset.target, the label column (dataset.target=COLUMN)")
    try:
        df = pd.read_csv(file, sep=sep)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{file}: cannot read as CSV ({' '.join(str(exc).split())})") from None
    if isinstance(drop, str) or not isinstance(drop, Sequence):
        raise ConfigError(f"dataset.drop={drop!r} is not a list (allowed: a list of column names, e.g. [id])")
    if df.empty:
        raise DataError(f"{file}: a header but no rows of data")
    drop = [str(c) for c in drop]
    problem = _frame_problem(df, str(target), drop)
    if problem:
        raise DataError(f"{file}: {problem}")
    x = check_features(
        str(file), df.drop(columns=[str(target), *drop]).to_numpy(dtype=np.float64), "features"
    )
    raw = df[str(target)]
    y, classes = encode_labels(str(file), raw.to_numpy() if is_numeric_dtype(raw) else raw.to_numpy(object))
    check_classes(str(file), y, classes, what=f"column {target!r}")
    return split_arrays("csv", x, y, test_fraction, split_seed, scaling, source=str(file))
