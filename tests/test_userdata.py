"""dataset=npz and dataset=csv: loading the user's files, and one clear line per kind of bad data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alrun.data.files import csv, npz
from alrun.errors import ConfigError, DataError


def test_csv_codes_string_labels_in_sorted_order_and_drops_columns(tiny_csv):
    s = csv(str(tiny_csv), target="label", drop=["id"], test_fraction=0.25)
    assert s.input_shape == (4,) and s.n_classes == 3
    assert (len(s.train), len(s.test)) == (90, 30)
    assert np.bincount(s.test.y.numpy()).tolist() == [10, 10, 10]
    # "cat" = 0, "dog" = 1, "emu" = 2: row i has label i % 3
    assert np.array_equal(s.train.y.numpy(), s.train.index.numpy() % 3)


def test_npz_maps_integer_labels_and_uses_a_given_test_set(tmp_path, tiny_npz):
    s = npz(str(tiny_npz))
    assert s.n_classes == 3 and set(s.train.y.tolist()) == {0, 1, 2}
    rng = np.random.default_rng(0)
    path = tmp_path / "with_test.npz"
    x, xt = rng.normal(size=(30, 1, 4, 4)), rng.normal(size=(12, 1, 4, 4))
    np.savez(path, X=x, y=np.arange(30) % 2, X_test=xt, y_test=np.arange(12) % 2)
    s = npz(str(path), scaling="none")
    assert s.input_shape == (1, 4, 4) and (len(s.train), len(s.test)) == (30, 12)
    np.testing.assert_allclose(s.test.x.numpy(), xt.astype(np.float32))
    assert s.test.index.tolist() == list(range(30, 42))


def write_npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


X10, Y10 = np.arange(20.0).reshape(10, 2), np.arange(10) % 2

NPZ_CASES = [
    ({"X": X10}, "no array 'y' (found: X)"),
    ({"X": X10, "y": Y10[:9]}, "X has 10 rows but y has 9 labels"),
    ({"X": np.arange(10.0), "y": Y10}, "X must have one row per item"),
    (
        {"X": np.where(np.eye(10, 2) > 0, np.nan, 1.0), "y": Y10},
        "X has 2 NaN or infinite values (first in row 0)",
    ),
    ({"X": X10, "y": np.zeros(10, int)}, "y has one class only (0)"),
    ({"X": X10, "y": np.linspace(0, 1, 10)}, "y has non-integer values such as"),
    ({"X": X10, "y": Y10.reshape(5, 2)}, "y must be 1-D"),
    ({"X": X10, "y": Y10, "X_test": X10}, "X_test and y_test must come together"),
    (
        {"X": X10, "y": Y10, "X_test": X10[:, :1], "y_test": Y10},
        "X_test items have shape (1,) but X items have (2,)",
    ),
    (
        {"X": X10, "y": Y10, "X_test": X10, "y_test": Y10 + 5},
        "y_test has labels not among the training labels: 5, 6",
    ),
    ({"X": np.array(["a"] * 20).reshape(10, 2), "y": Y10}, "X is not numeric"),
]


@pytest.mark.parametrize(("arrays", "needle"), NPZ_CASES)
def test_bad_npz_is_one_line_naming_the_file(tmp_path, arrays, needle):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        npz(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


def test_unreadable_and_missing_npz(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match=re.escape("junk.npz: cannot read as .npz")):
        npz(str(tmp_path / "junk.npz"))
    np.save(tmp_path / "plain.npy", X10)
    with pytest.raises(DataError, match=re.escape("plain.npy: not an .npz archive")):
        npz(str(tmp_path / "plain.npy"))
    with pytest.raises(DataError, match=re.escape("nothere.npz: no such file")):
        npz(str(tmp_path / "nothere.npz"))
    with pytest.raises(ConfigError, match=re.escape("dataset=npz needs dataset.path")):
        npz(None)


def frame(**changes) -> pd.DataFrame:
    df = pd.DataFrame({"f1": np.arange(12.0), "f2": np.arange(12.0) ** 2, "label": ["a", "b", "c"] * 4})
    return df.assign(**changes)


CSV_CASES = [
    (frame(), {"target": "klass"}, "no column 'klass' (columns: f1, f2, label)"),
    (frame(), {"target": "label", "drop": ["nope"]}, "no column 'nope'"),
    (frame(f2=["x"] * 12), {"target": "label"}, "feature column(s) 'f2' are not numeric"),
    (
        frame(f1=[np.nan] + [1.0] * 11),
        {"target": "label"},
        "column 'f1' has 1 missing values (first on line 2)",
    ),
    (
        frame(label=["a"] * 11 + [None]),
        {"target": "label"},
        "column 'label' has 1 missing values (first on line 13)",
    ),
    (frame(label=["a"] * 12), {"target": "label"}, "column 'label' has one class only ('a')"),
    (frame(label=["a"] * 11 + ["b"]), {"target": "label"}, "class 'b' has only 1 item"),
    (frame(label=np.linspace(0, 1, 12)), {"target": "label"}, "non-integer values such as"),
    (frame(), {"target": "label", "drop": ["f1", "f2"]}, "no feature columns left"),
]


@pytest.mark.parametrize(("df", "kwargs", "needle"), CSV_CASES)
def test_bad_csv_is_one_line_naming_the_file(tmp_path, df, kwargs, needle):
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        csv(str(path), **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


def test_empty_csv_and_missing_target_setting(tmp_path, tiny_csv):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=re.escape("empty.csv: cannot read as CSV")):
        csv(str(tmp_path / "empty.csv"), target="y")
    with pytest.raises(ConfigError, match=re.escape("dataset=csv needs dataset.target")):
        csv(str(tiny_csv))


def test_csv_end_to_end_through_the_runner(run_cfg, tiny_csv):
    rows = run_cfg(f"dataset.path={tiny_csv}", "dataset=csv", "dataset.target=label", "dataset.drop=[id]")
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20]
    assert all(0.0 <= r["test/acc"] <= 1.0 for r in rows)


def test_npz_string_labels_work_and_object_arrays_are_refused(tmp_path):
    path = write_npz(tmp_path / "s.npz", X=X10, y=np.array(["no", "yes"] * 5))
    assert npz(path).n_classes == 2
    path = write_npz(tmp_path / "o.npz", X=X10, y=np.array([1, "a"] * 5, dtype=object))
    with pytest.raises(DataError, match=re.escape("o.npz: cannot read as .npz")):
        npz(path)
