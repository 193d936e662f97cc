"""Tabular datasets that ship inside scikit-learn (no download), and a synthetic generator.

Each builder is the ``_target_`` of one ``configs/dataset/*.yaml``; features are standardised
with training-portion statistics by default (``scaling``, see :mod:`alrun.data.splits`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alrun.config.checks import check_int
from alrun.data.splits import Splits, split_arrays
from alrun.errors import ConfigError


def _sklearn(
    name: str, loader: Callable[[], Any], test_fraction: float, split_seed: int, scaling: str
) -> Splits:
    bunch = loader()
    return split_arrays(
        name, bunch.data, bunch.target, test_fraction, split_seed, scaling, source=f"sklearn {name}"
    )


def digits(
    test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "none", images: bool = False
) -> Splits:
    """scikit-learn's 8x8 handwritten digits (1,797 items, 10 classes), pixels scaled by 1/16.

    Args:
        test_fraction: share held out as the test set (0.25 gives a 1,347-item pool, 450 test).
        split_seed: seed of the stratified split.
        scaling: further scaling (``none`` keeps pixels in ``[0, 1]``).
        images: items of shape ``[1, 8, 8]`` (for ``model=cnn``/``resnet``) instead of 64 features.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images[:, None] if images else bunch.data
    return split_arrays("digits", x / 16.0, bunch.target, test_fraction, split_seed, scaling)


def iris(test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "standardize") -> Splits:
    """Fisher's iris (150 items, 4 features, 3 classes of 50).

    Args:
        test_fraction: share held out as the test set.
        split_seed: seed of the stratified split (fixed across run seeds).
        scaling: ``standardize`` (default), ``normalize`` or ``none``.
    """
    from sklearn.datasets import load_iris

    return _sklearn("iris", load_iris, test_fraction, split_seed, scaling)


def wine(test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "standardize") -> Splits:
    """UCI wine recognition (178 items, 13 features, 3 classes of 59/71/48).

    Args:
        test_fraction: share held out as the test set.
        split_seed: seed of the stratified split (fixed across run seeds).
        scaling: ``standardize`` (default), ``normalize`` or ``none``.
    """
    from sklearn.datasets import load_wine

    return _sklearn("wine", load_wine, test_fraction, split_seed, scaling)


def breast_cancer(test_fraction: float = 0.25, split_seed: int = 0, scaling: str = "standardize") -> Splits:
    """UCI Wisconsin diagnostic breast cancer (569 items, 30 features, 2 classes of 212/357).

    Args:
        test_fraction: share held out as the test set.
        split_seed: seed of the stratified split (fixed across run seeds).
        scaling: ``standardize`` (default), ``normalize`` or ``none``.
    """
    from sklearn.datasets import load_breast_cancer

    return _sklearn("breast_cancer", load_breast_cancer, test_fraction, split_seed, scaling)


def synthetic(
    n_samples: int = 2000,
    n_features: int = 20,
    n_informative: int = 10,
    n_classes: int = 4,
    class_sep: float = 1.0,
    data_seed: int = 0,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    scaling: str = "standardize",
) -> Splits:
    """Gaussian clusters from scikit-learn's ``make_classification`` (no redundant features).

    Args:
        n_samples: items in total (pool + test).
        n_features: features per item.
        n_informative: informative features (the rest are noise).
        n_classes: number of classes.
        class_sep: spread between the class clusters (larger = easier).
        data_seed: seed of the generator (fixed across run seeds: every run sees the same data).
        test_fraction: share held out as the test set.
        split_seed: seed of the stratified split.
        scaling: ``standardize`` (default), ``normalize`` or ``none``.
    """
    from sklearn.datasets import make_classification

    check_int("dataset.data_seed", data_seed, 0)
    try:
        x, y = make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=n_informative,
            n_redundant=0,
            n_classes=n_classes,
            class_sep=class_sep,
            random_state=data_seed % 2**32,
        )
    except ValueError as exc:
        raise ConfigError(f"dataset=synthetic: {exc}") from None
    return split_arrays("synthetic", x, y, test_fraction, split_seed, scaling)
