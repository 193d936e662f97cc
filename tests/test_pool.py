"""Pool bookkeeping: one labelled_round array, index conversions, no double labelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alrun.active.pool import ActivePool, initial_indices
from alrun.data.tensors import TensorData


def make_pool(n: int = 20, offset: int = 100) -> ActivePool:
    data = TensorData(torch.randn(n, 3), torch.arange(n) % 4, torch.arange(n) + offset)
    return ActivePool(data, "train")


def test_label_and_views():
    pool = make_pool()
    pool.label(np.array([3, 1]), 0)
    pool.label(np.array([7]), 1)
    assert pool.labelled().tolist() == [1, 3, 7]
    assert pool.n_labelled == 3
    assert 1 not in pool.unlabelled() and len(pool.unlabelled()) == 17
    assert pool.labelled_in(1).tolist() == [7]
    assert pool.labelled_data().index.tolist() == [101, 103, 107]


def test_labelling_twice_is_an_error():
    pool = make_pool()
    pool.label(np.array([2]), 0)
    with pytest.raises(ValueError, match="already labelled"):
        pool.label(np.array([2]), 1)
    with pytest.raises(ValueError, match="duplicate"):
        pool.label(np.array([4, 4]), 1)
    with pytest.raises(IndexError):
        pool.label(np.array([20]), 1)
    assert pool.n_labelled == 1


def test_candidate_and_dataset_conversions():
    pool = make_pool()
    pool.label(np.array([0, 2]), 0)
    # unlabelled = 1, 3, 4, ... ; candidate 0 -> pool 1, candidate 1 -> pool 3
    assert pool.candidates_to_pool(np.array([0, 1])).tolist() == [1, 3]
    assert pool.to_dataset(np.array([1, 3])).tolist() == [101, 103]
    with pytest.raises(IndexError):
        pool.candidates_to_pool(np.array([18]))


def test_state_dict_round_trip():
    pool = make_pool()
    pool.label(np.array([5, 6]), 2)
    other = make_pool()
    other.load_state_dict(pool.state_dict())
    assert np.array_equal(other.labelled_round, pool.labelled_round)


@pytest.mark.parametrize("mode", ["random", "balanced"])
def test_initial_set_is_seeded(mode):
    a = initial_indices(make_pool(), 8, mode, np.random.default_rng(0))
    b = initial_indices(make_pool(), 8, mode, np.random.default_rng(0))
    c = initial_indices(make_pool(), 8, mode, np.random.default_rng(1))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 8


def test_balanced_initial_set_has_every_class_equally():
    pool = make_pool()
    pick = initial_indices(pool, 8, "balanced", np.random.default_rng(0))
    assert np.bincount(pool.targets[pick], minlength=4).tolist() == [2, 2, 2, 2]
