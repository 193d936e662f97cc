"""Scores on hand-made probabilities, checked against their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from alrun.strategies import scores
from alrun.strategies.select import top_n

CONFIDENT_AND_UNIFORM = torch.tensor([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64)


def logp(p: torch.Tensor) -> torch.Tensor:
    return p.double().log()


@pytest.mark.parametrize("score", [scores.least_confidence, scores.margin, scores.entropy])
def test_uniform_row_is_picked_over_confident_row(score):
    s = score(logp(CONFIDENT_AND_UNIFORM))
    assert s[1] > s[0]
    assert top_n(s, 1, torch.Generator().manual_seed(0)).tolist() == [1]


def test_values_match_formulas():
    p = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0]], dtype=torch.float64)
    lp = logp(p)
    assert torch.allclose(scores.least_confidence(lp), torch.tensor([0.4, 0.5], dtype=torch.float64))
    assert torch.allclose(scores.margin(lp), torch.tensor([-0.3, 0.0], dtype=torch.float64))
    h0 = -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1))
    assert scores.entropy(lp).tolist() == pytest.approx([h0, math.log(2)], abs=1e-12)


def test_one_hot_row_has_entropy_exactly_zero_and_no_nan():
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    for score in (scores.entropy, scores.least_confidence, scores.margin):
        s = score(logp(one_hot))
        assert not torch.isnan(s).any()
    assert scores.entropy(logp(one_hot)).tolist() == [0.0, 0.0]


def test_entropy_from_extreme_logits_is_finite():
    logits = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float64)
    assert scores.entropy(logits.log_softmax(-1)).item() == 0.0


def test_uniform_has_maximum_entropy():
    c = 5
    uniform = torch.full((1, c), 1 / c, dtype=torch.float64)
    other = torch.tensor([[0.3, 0.2, 0.2, 0.2, 0.1]], dtype=torch.float64)
    assert scores.entropy(logp(uniform)).item() == pytest.approx(math.log(c))
    assert scores.entropy(logp(other)).item() < math.log(c)


def test_scores_refuse_float32():
    with pytest.raises(TypeError, match="float64"):
        scores.entropy(CONFIDENT_AND_UNIFORM.float().log())


def test_scores_work_on_mc_shaped_input():
    p = CONFIDENT_AND_UNIFORM.expand(4, 2, 3)
    assert scores.entropy(logp(p)).shape == (4, 2)
