"""Dataset builders: stratified seeded splits, scaling with training statistics only, bundled sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alrun.data import bundled
from alrun.data.bundled import digits
from alrun.data.splits import scale, split_arrays
from alrun.errors import ConfigError, DataError


def labels_of(data) -> np.ndarray:
    return data.y.numpy()


def test_split_is_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    x = np.arange(100, dtype=float)[:, None]
    a = split_arrays("t", x, y, 0.2, split_seed=3)
    b = split_arrays("t", x, y, 0.2, split_seed=3)
    c = split_arrays("t", x, y, 0.2, split_seed=4)
    assert np.bincount(labels_of(a.test)).tolist() == [12, 6, 2]  # class shares kept exactly
    assert torch.equal(a.test.index, b.test.index)
    assert not torch.equal(a.test.index, c.test.index)
    # the two parts partition the items, and each row keeps its dataset index
    assert sorted(a.train.index.tolist() + a.test.index.tolist()) == list(range(100))
    assert torch.equal(a.train.x[:, 0].long(), a.train.index)


def test_digits_default_is_unchanged_and_images_option_reshapes():
    flat, images = digits(), digits(images=True)
    assert flat.input_shape == (64,) and images.input_shape == (1, 8, 8)
    assert (len(flat.train), len(flat.test)) == (1347, 450)
    assert torch.equal(flat.train.x, images.train.x.reshape(-1, 64))
    assert float(flat.train.x.max()) == 1.0 and float(flat.train.x.min()) == 0.0


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, size=(200, 3))
    test = rng.normal(50.0, 9.0, size=(40, 3))  # a shifted test set must not move the scaling
    tr, te = scale(train, test, "standardize")
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(tr.std(0), 1, atol=1e-5)
    expected = (test - train.mean(0)) / train.std(0)
    np.testing.assert_allclose(te, expected, rtol=1e-5)


def test_normalize_uses_one_mean_and_std_of_the_training_portion():
    train = np.array([[0.0, 2.0], [4.0, 6.0]])
    test = np.array([[3.0, 3.0]])
    tr, te = scale(train, test, "normalize")
    mean, std = 3.0, np.sqrt(5.0)
    np.testing.assert_allclose(te, (test - mean) / std)
    np.testing.assert_allclose(tr, (train - mean) / std)


def test_constant_feature_is_centred_not_divided_by_zero():
    train = np.column_stack([np.ones(10), np.arange(10.0)])
    tr, _ = scale(train, train[:2], "standardize")
    assert np.isfinite(tr).all() and np.all(tr[:, 0] == 0)


def test_split_arrays_scales_with_its_own_training_part():
    x = np.arange(40, dtype=float)[:, None]
    y = np.arange(40) % 2
    s = split_arrays("t", x, y, 0.25, 0, scaling="standardize")
    train_rows = s.train.index.numpy()
    mean, std = x[train_rows].mean(), x[train_rows].std()
    np.testing.assert_allclose(s.test.x.numpy()[:, 0], (x[s.test.index.numpy(), 0] - mean) / std, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "n_items", "n_features", "counts"),
    [
        ("iris", 150, 4, [50, 50, 50]),
        ("wine", 178, 13, [59, 71, 48]),
        ("breast_cancer", 569, 30, [212, 357]),
    ],
)
def test_bundled_tabular_sets(name, n_items, n_features, counts):
    s = getattr(bundled, name)()
    assert s.input_shape == (n_features,) and s.n_classes == len(counts)
    assert len(s.train) + len(s.test) == n_items
    total = np.bincount(labels_of(s.train), minlength=len(counts)) + np.bincount(labels_of(s.test))
    assert total.tolist() == counts
    assert abs(float(s.train.x.mean())) < 1e-5  # standardised on the training portion


def test_synthetic_settings_and_fixed_data_seed():
    a = bundled.synthetic(n_samples=300, n_features=7, n_informative=4, n_classes=3)
    b = bundled.synthetic(n_samples=300, n_features=7, n_informative=4, n_classes=3)
    assert a.input_shape == (7,) and a.n_classes == 3 and len(a.train) + len(a.test) == 300
    assert torch.equal(a.train.x, b.train.x)
    c = bundled.synthetic(n_samples=300, n_features=7, n_informative=4, n_classes=3, data_seed=1)
    assert not torch.equal(a.train.x, c.train.x)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: bundled.iris(test_fraction=1.5), "dataset.test_fraction=1.5"),
        (lambda: bundled.iris(scaling="minmax"), "dataset.scaling='minmax'"),
        (lambda: bundled.synthetic(n_classes=8, n_informative=2), "dataset=synthetic"),
    ],
)
def test_bad_settings_are_config_errors(call, needle):
    with pytest.raises(ConfigError) as info:
        call()
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_one_class_and_singleton_classes_are_refused():
    x = np.zeros((10, 2))
    with pytest.raises(DataError, match="one class only"):
        split_arrays("t", x, np.zeros(10, int), 0.3, 0)
    with pytest.raises(DataError, match="class 2 has only 1 item"):
        split_arrays("t", x, np.array([0] * 5 + [1] * 4 + [2]), 0.3, 0)
