"""MNIST and Fashion-MNIST from their IDX files, read with numpy (nothing downloads here).

``make data`` puts the files in the data folder; alrun looks in ``dataset.root`` when set, else in
``$ALRUN_DATA_DIR``, else in the checkout's ``data/`` (next to ``configs/``), then in
``/usr/share/datasets`` (where ``apt-get install dataset-fashion-mnist`` puts Fashion-MNIST).
Files may be plain or gzip-compressed (``.gz``). Images become float32 ``[N, 1, 28, 28]`` in
``[0, 1]`` (``scaling=normalize`` then uses one mean and std of the training portion).
"""

from __future__ import annotations

import gzip
import os
from math import prod
from pathlib import Path

import numpy as np

from alrun.config.checks import check_int
from alrun.data.splits import Splits, assemble, stratified_rows
from alrun.errors import ConfigError, DataError

SYSTEM_DIR = Path("/usr/share/datasets")
FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def checkout_data_dir() -> Path:
    """The ``data/`` folder of alrun's checkout (next to ``configs/``)."""
    return Path(__file__).resolve().parents[2] / "data"


def search_dirs(root: str | None = None) -> list[Path]:
    """Folders searched for data files, in order (see the module docstring)."""
    env = os.environ.get("ALRUN_DATA_DIR")
    first = Path(root) if root else Path(env) if env else checkout_data_dir()
    return [first.expanduser(), SYSTEM_DIR]


def find_file(folder: str, stem: str, root: str | None = None) -> Path:
    """The first ``<dir>/<folder>/<stem>[.gz]`` over :func:`search_dirs`; a one-line DataError if none."""
    dirs = search_dirs(root)
    for base in dirs:
        for name in (stem, f"{stem}.gz"):
            if (base / folder / name).is_file():
                return base / folder / name
    where = " or ".join(str(d / folder) for d in dirs)
    raise DataError(f"{folder}/{stem} not found in {where}; run `make data` (or set ALRUN_DATA_DIR)")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or ``.gz``) of unsigned bytes as a numpy array of its stored shape.

    Args:
        path: the file.
    """
    try:
        buf = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if buf[2] != 0x08:
        raise DataError(f"{path}: IDX data type 0x{buf[2]:02x} is not supported (only unsigned bytes, 0x08)")
    ndim = buf[3]
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + prod(shape)
    if len(buf) != expected:
        raise DataError(f"{path}: {len(buf)} bytes, expected {expected} for shape {shape} (truncated?)")
    return np.frombuffer(buf, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_part(folder: str, part: str, root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` and labels ``[N]`` of one part (``train`` or ``test``), checked."""
    xpath, ypath = find_file(folder, FILES[f"{part}_x"], root), find_file(folder, FILES[f"{part}_y"], root)
    x, y = read_idx(xpath), read_idx(ypath)
    if x.ndim != 3 or y.ndim != 1:
        raise DataError(f"{xpath}: expected images [N, H, W] and labels [N], got {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{xpath}: {len(x)} images but {ypath.name} has {len(y)} labels")
    if y.size and y.max() > 9:
        raise DataError(f"{ypath}: label {int(y.max())} is out of range (expected 0..9)")
    return x, y


def _subset(source: str, y: np.ndarray, size: int | None, seed: int, key: str) -> np.ndarray:
    if size is None or size == len(y):
        return np.arange(len(y))
    if isinstance(size, bool) or not isinstance(size, int) or not 10 <= size < len(y):
        raise ConfigError(f"dataset.{key}={size!r} is out of range (allowed: null or 10 <= n <= {len(y)})")
    return stratified_rows(source, y, size, seed)[1]


def image_set(
    name: str,
    folder: str,
    root: str | None,
    scaling: str,
    pool_size: int | None,
    test_size: int | None,
    split_seed: int,
) -> Splits:
    """The official train/test split of an IDX image set, optionally a stratified subset of each."""
    check_int("dataset.split_seed", split_seed, 0)
    x_train, y_train = load_part(folder, "train", root)
    x_test, y_test = load_part(folder, "test", root)
    tr = _subset(f"{folder}/train", y_train, pool_size, split_seed, "pool_size")
    te = _subset(f"{folder}/t10k", y_test, test_size, split_seed, "test_size")

    def images(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return (x[rows, None].astype(np.float32)) / np.float32(255.0)

    train = (images(x_train, tr), y_train[tr].astype(np.int64), tr)
    test = (images(x_test, te), y_test[te].astype(np.int64), te + len(y_train))
    return assemble(name, train, test, 10, scaling)


def mnist(
    root: str | None = None,
    scaling: str = "none",
    pool_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
) -> Splits:
    """MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 training and 10,000 test images.

    Args:
        root: data folder (default: ``$ALRUN_DATA_DIR``, else the checkout's ``data/``).
        scaling: ``none`` (pixels in ``[0, 1]``), ``normalize`` or ``standardize``.
        pool_size: use a stratified subset of this many training images (``null`` = all 60,000).
        test_size: use a stratified subset of this many test images (``null`` = all 10,000).
        split_seed: seed of the subsets (fixed across run seeds).
    """
    return image_set("mnist", "mnist", root, scaling, pool_size, test_size, split_seed)


def fashion_mnist(
    root: str | None = None,
    scaling: str = "none",
    pool_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
) -> Splits:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando): 60,000 training and 10,000 test images.

    Args:
        root: data folder (default: ``$ALRUN_DATA_DIR``, else the checkout's ``data/``).
        scaling: ``none`` (pixels in ``[0, 1]``), ``normalize`` or ``standardize``.
        pool_size: use a stratified subset of this many training images (``null`` = all 60,000).
        test_size: use a stratified subset of this many test images (``null`` = all 10,000).
        split_seed: seed of the subsets (fixed across run seeds).
    """
    return image_set("fashion_mnist", "fashion-mnist", root, scaling, pool_size, test_size, split_seed)
