"""What a dataset target may return: arrays, a dict, torch Datasets; checked like dataset=npz."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from test_userdata import NPZ_CASES
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from alrun.data.python import build_dataset, python, to_splits
from alrun.errors import ConfigError, DataError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = np.arange(40) % 4
XT, YT = RNG.normal(size=(8, 3)).astype(np.float32), np.arange(8) % 4


class Items(Dataset):
    """A map-style Dataset of (x, y) items, returned one at a time."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, np.ndarray]:
        return torch.from_numpy(self.x[i]), self.y[i]


class Stream(IterableDataset):
    def __iter__(self):
        yield from zip(X, Y, strict=True)


def arrays() -> tuple[np.ndarray, np.ndarray]:
    """A dataset target for the config tests below."""
    return X, Y


SPLIT_FORMS = {
    "tuple": (X, Y),
    "tensors": (torch.from_numpy(X), torch.from_numpy(Y)),
    "lists": (X.tolist(), Y.tolist()),
    "dict": {"X": X, "y": Y},
    "dataset": Items(X, Y),
    "tensor dataset": TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)),
}
GIVEN_FORMS = {
    "tuple4": (X, Y, XT, YT),
    "dict4": {"X": X, "y": Y, "X_test": XT, "y_test": YT},
    "dataset pair": (Items(X, Y), TensorDataset(torch.from_numpy(XT), torch.from_numpy(YT))),
}


@pytest.mark.parametrize("form", SPLIT_FORMS)
def test_every_form_gives_the_same_stratified_split(form):
    s = to_splits(SPLIT_FORMS[form], "mine.load")
    ref = to_splits((X, Y), "mine.load")
    assert (len(s.train), len(s.test), s.n_classes, s.input_shape) == (30, 10, 4, (3,))
    for part, expected in ((s.train, ref.train), (s.test, ref.test)):
        assert torch.equal(part.index, expected.index) and torch.equal(part.x, expected.x)
        assert torch.equal(part.y, torch.from_numpy(Y[part.index.numpy()]))


@pytest.mark.parametrize("form", GIVEN_FORMS)
def test_a_given_test_set_is_kept_and_indexed_after_the_training_rows(form):
    s = to_splits(GIVEN_FORMS[form], "mine.load", scaling="standardize")
    assert (len(s.train), len(s.test)) == (40, 8)
    assert s.train.index.tolist() == list(range(40)) and s.test.index.tolist() == list(range(40, 48))
    mean, std = X.mean(0), X.std(0)  # scaled with training statistics only
    np.testing.assert_allclose(s.test.x.numpy(), (XT - mean) / std, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("data", "needle"), NPZ_CASES)
def test_bad_arrays_get_the_npz_lines_naming_the_target(data, needle):
    with pytest.raises(DataError) as info:
        to_splits(dict(data), "mine.load")
    message = str(info.value)
    assert message.startswith("mine.load: ") and needle in message and "\n" not in message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("X,y", "returned a str; return (X, y), (X, y, X_test, y_test), a dict with keys X, y"),
        ((X, Y, XT), "returned a tuple; return (X, y)"),
        (
            {"X": X, "y": Y, "labels": Y},
            "returned a dict with keys ['labels'] (allowed: X, y, X_test, y_test)",
        ),
        (Stream(), "the dataset is not a map-style Dataset (it needs __len__ and __getitem__)"),
        ((Items(X, Y), Stream()), "test is not a map-style Dataset"),
        (Items(X, np.eye(40, 4)), "labels of the dataset must be one class per item, got shape (4,)"),
        (TensorDataset(torch.zeros(0, 3)), "the dataset is empty"),
    ],
)
def test_what_cannot_be_data_is_one_line(data, needle):
    with pytest.raises(DataError) as info:
        to_splits(data, "mine.load")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_bare_target_and_dataset_python_build_the_same_splits(make_cfg):
    bare = build_dataset(OmegaConf.create({"_target_": f"{__name__}.arrays"}))
    cfg = make_cfg(
        "dataset=python", f"dataset.source._target_={__name__}.arrays", "dataset.test_fraction=0.25"
    )
    through_python = build_dataset(cfg.dataset)
    assert torch.equal(bare.train.index, through_python.train.index)
    assert torch.equal(bare.train.x, through_python.train.x)
    half = build_dataset(
        make_cfg(
            "dataset=python",
            f"dataset.source._target_={__name__}.arrays",
            "dataset.test_fraction=0.5",
            "dataset.split_seed=3",
        ).dataset
    )
    assert (len(half.train), len(half.test)) == (20, 20)


def test_dataset_python_without_a_source_says_how_to_set_one(make_cfg):
    with pytest.raises(
        ConfigError, match=r"usage: alrun dataset=python dataset.source._target_=mymodule.load"
    ):
        build_dataset(make_cfg("dataset=python").dataset)
    with pytest.raises(ConfigError, match=r"dataset=python needs dataset\.source\._target_"):
        python()
