"""Top-n selection: order, seeded tie-breaking, refusals."""

from __future__ import annotations

import pytest
import torch

from alrun.strategies.select import top_n


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_picks_highest_scores_best_first():
    s = torch.tensor([0.1, 0.9, 0.5, 0.7], dtype=torch.float64)
    assert top_n(s, 3, gen(0)).tolist() == [1, 3, 2]


def test_all_equal_scores_give_a_seeded_repeatable_random_subset():
    s = torch.zeros(100, dtype=torch.float64)
    a, b, c = top_n(s, 10, gen(1)), top_n(s, 10, gen(1)), top_n(s, 10, gen(2))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()
    assert a.tolist() != list(range(10))  # not the lowest indices
    assert len(set(a.tolist())) == 10


def test_ties_are_broken_only_among_tied_items():
    s = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    assert sorted(top_n(s, 3, gen(3)).tolist()) == [0, 2, 4]


def test_refuses_nan_and_too_many():
    with pytest.raises(ValueError, match="NaN"):
        top_n(torch.tensor([0.0, float("nan")], dtype=torch.float64), 1, gen(0))
    with pytest.raises(ValueError, match="cannot pick"):
        top_n(torch.zeros(2, dtype=torch.float64), 3, gen(0))
