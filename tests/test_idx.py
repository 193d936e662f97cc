"""IDX files (MNIST, Fashion-MNIST): the reader on files the tests write, the data-folder search,
and the real files when ``make data`` has fetched them (skipped otherwise)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from alrun.data import idx
from alrun.errors import ConfigError, DataError


def test_read_idx_plain_and_gz(tmp_path, write_idx):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        got = idx.read_idx(write_idx(tmp_path / name, array))
        assert got.dtype == np.uint8 and np.array_equal(got, array)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file (bad magic number)"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05\x00\x00\x00", "IDX data type 0x0d is not supported"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "10 bytes, expected 13 for shape (5,) (truncated?)"),
    ],
)
def test_read_idx_bad_files(tmp_path, data, needle):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        idx.read_idx(path)
    assert str(info.value).startswith(str(path)) and needle in str(info.value)


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")[:-6])
    with pytest.raises(DataError, match="cannot read"):
        idx.read_idx(path)


@pytest.mark.parametrize("builder", [idx.mnist, idx.fashion_mnist])
def test_image_sets_from_a_tiny_data_folder(idx_root, builder):
    s = builder(root=str(idx_root))
    assert s.input_shape == (1, 28, 28) and s.n_classes == 10
    assert (len(s.train), len(s.test)) == (40, 20)
    assert float(s.train.x.min()) >= 0.0 and float(s.train.x.max()) <= 1.0
    assert s.test.index.tolist() == list(range(40, 60))  # test rows follow the training rows


def test_pixels_are_bytes_over_255_and_normalize_uses_training_statistics(idx_root):
    raw = idx.read_idx(idx_root / "mnist" / "train-images-idx3-ubyte")
    s = idx.mnist(root=str(idx_root))
    np.testing.assert_array_equal(s.train.x.numpy()[:, 0], raw.astype(np.float32) / np.float32(255))
    n = idx.mnist(root=str(idx_root), scaling="normalize")
    train = raw.astype(np.float64) / 255
    expected = (s.test.x.numpy().astype(np.float64) - train.mean()) / train.std()
    np.testing.assert_allclose(n.test.x.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_pool_and_test_subsets_are_stratified_and_fixed(idx_root):
    a = idx.mnist(root=str(idx_root), pool_size=20, test_size=10)
    b = idx.mnist(root=str(idx_root), pool_size=20, test_size=10)
    assert np.bincount(a.train.y.numpy()).tolist() == [2] * 10
    assert np.bincount(a.test.y.numpy()).tolist() == [1] * 10
    assert a.train.index.tolist() == b.train.index.tolist()
    with pytest.raises(ConfigError, match=r"dataset\.pool_size=5 is out of range"):
        idx.mnist(root=str(idx_root), pool_size=5)


def test_search_order_root_then_env_then_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("ALRUN_DATA_DIR", raising=False)
    assert idx.search_dirs()[0] == Path(idx.__file__).resolve().parents[2] / "data"
    assert idx.search_dirs()[-1] == Path("/usr/share/datasets")
    monkeypatch.setenv("ALRUN_DATA_DIR", str(tmp_path))
    assert idx.search_dirs()[0] == tmp_path
    assert idx.search_dirs(str(tmp_path / "r"))[0] == tmp_path / "r"


def test_missing_files_name_make_data(monkeypatch, tmp_path):
    monkeypatch.setenv("ALRUN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as info:
        idx.mnist()
    message = str(info.value)
    assert "mnist/train-images-idx3-ubyte not found in" in message and "run `make data`" in message
    assert "\n" not in message


def test_mismatched_counts_and_labels(idx_root, write_idx):
    write_idx(idx_root / "mnist" / "t10k-labels-idx1-ubyte", np.arange(19) % 10)
    with pytest.raises(DataError, match="20 images but t10k-labels-idx1-ubyte has 19 labels"):
        idx.mnist(root=str(idx_root))
    write_idx(idx_root / "mnist" / "t10k-labels-idx1-ubyte", np.full(20, 12))
    with pytest.raises(DataError, match="label 12 is out of range"):
        idx.mnist(root=str(idx_root))


def test_pinned_sums_cover_the_files_alrun_reads():
    sums = Path(__file__).resolve().parent.parent / "scripts" / "data.sha256"
    listed = {line.split()[1] for line in sums.read_text().splitlines() if line.strip()}
    lengths = {len(line.split()[0]) for line in sums.read_text().splitlines() if line.strip()}
    assert lengths == {64}
    for folder, ext in (("mnist", ""), ("fashion-mnist", ".gz")):
        assert {f"{folder}/{name}{ext}" for name in idx.FILES.values()} <= listed


def real_files(folder: str) -> bool:
    try:
        for stem in idx.FILES.values():
            idx.find_file(folder, stem)
    except DataError:
        return False
    return True


@pytest.mark.skipif(not real_files("mnist"), reason="MNIST not fetched (run `make data`)")
def test_real_mnist_class_counts():
    s = idx.mnist()
    assert (len(s.train), len(s.test), s.input_shape) == (60_000, 10_000, (1, 28, 28))
    assert np.bincount(s.test.y.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(s.train.y.numpy()).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


@pytest.mark.skipif(not real_files("fashion-mnist"), reason="Fashion-MNIST not fetched (run `make data`)")
def test_real_fashion_mnist_class_counts():
    s = idx.fashion_mnist()
    assert (len(s.train), len(s.test), s.input_shape) == (60_000, 10_000, (1, 28, 28))
    assert np.bincount(s.train.y.numpy()).tolist() == [6000] * 10
    assert np.bincount(s.test.y.numpy()).tolist() == [1000] * 10
