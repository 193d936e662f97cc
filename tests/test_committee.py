"""Committee scores against modAL's and scikit-activeml's definitions, on hand-made probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

from alrun.strategies import scores

# 3 members (T) x 4 items x 3 classes; item 0 unanimous, item 3 has zeros
P = np.array(
    [
        [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0]],
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.0, 1.0, 0.0]],
        [[0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.1, 0.6, 0.3], [0.5, 0.5 - 1e-9, 1e-9]],
    ]
)


def lp(p: np.ndarray) -> torch.Tensor:
    with np.errstate(divide="ignore"):
        return torch.from_numpy(np.log(p))


def modal_vote_entropy(p: np.ndarray) -> np.ndarray:
    """modAL.disagreement.vote_entropy: vote shares per class, scipy's entropy (nats)."""
    votes = p.argmax(axis=2).T  # [N, M], each member's predicted class
    share = np.zeros((p.shape[1], p.shape[2]))
    for i, row in enumerate(votes):
        for c in range(p.shape[2]):
            share[i, c] = np.count_nonzero(row == c) / p.shape[0]
    return scipy_entropy(share, axis=1)


def skactiveml_vote_entropy(p: np.ndarray) -> np.ndarray:
    """skactiveml.pool.vote_entropy: v = vote counts / n_estimators, nansum(-v log v)."""
    votes = p.argmax(axis=2).T
    counts = np.stack([(votes == c).sum(axis=1) for c in range(p.shape[2])], axis=1)
    v = counts / votes.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nansum(-v * np.log(v), axis=1)


def skactiveml_average_kl(p: np.ndarray) -> np.ndarray:
    """skactiveml.pool.average_kl_divergence."""
    mean = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nansum(np.nansum(p * np.log(p / mean), axis=2), axis=0) / p.shape[0]


def modal_member_kl(p: np.ndarray) -> np.ndarray:
    """modAL.disagreement.KL_max_disagreement's per-member KL(p_m || consensus), [N, M]."""
    consensus = p.mean(axis=0)
    return np.array(
        [[scipy_entropy(p[m, i], qk=consensus[i]) for m in range(p.shape[0])] for i in range(p.shape[1])]
    )


def test_vote_entropy_matches_modal_and_scikit_activeml():
    got = scores.vote_entropy(lp(P)).numpy()
    np.testing.assert_allclose(got, modal_vote_entropy(P), atol=1e-12)
    np.testing.assert_allclose(got, skactiveml_vote_entropy(P), atol=1e-12)
    # by hand: item 0 unanimous; item 1 votes 0, 1, 2; item 2 votes 1, 2, 1; item 3 votes 0, 1, 0
    two_one = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert got.tolist() == pytest.approx([0.0, math.log(3), two_one, two_one], abs=1e-12)


def test_kl_to_mean_matches_scikit_activeml_and_the_mean_of_modals_member_kl():
    got = scores.kl_to_mean(lp(P)).numpy()
    np.testing.assert_allclose(got, skactiveml_average_kl(P), atol=1e-12)
    np.testing.assert_allclose(got, modal_member_kl(P).mean(axis=1), atol=1e-12)
    assert np.isfinite(got).all() and (got >= 0).all()


def test_kl_to_mean_equals_bald_and_both_vanish_for_an_agreeing_committee():
    logits = torch.randn(5, 7, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_probs = logits.log_softmax(-1)
    assert torch.allclose(scores.kl_to_mean(log_probs), scores.bald(log_probs), atol=1e-12)
    same = log_probs[:1].expand(5, 7, 4)
    assert scores.kl_to_mean(same).abs().max() < 1e-12
    assert scores.vote_entropy(same).tolist() == [0.0] * 7


def test_committee_scores_need_samples_in_float64():
    with pytest.raises(ValueError, match=r"\[T, N, C\]"):
        scores.vote_entropy(lp(P)[0])
    with pytest.raises(TypeError, match="float64"):
        scores.kl_to_mean(lp(P).float())
