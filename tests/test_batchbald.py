"""BatchBALD: joint entropies against brute-force enumeration, BALD at batch size 1, duplicates."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from alrun.strategies import scores
from alrun.strategies.batchbald import JointState, batchbald
from alrun.strategies.select import top_n


def gens(seed: int = 0) -> tuple[torch.Generator, torch.Generator]:
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1000)


def random_log_probs(t: int, n: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.randn(t, n, c, generator=g, dtype=torch.float64)).log_softmax(-1)


def brute_joint_entropy(log_probs: torch.Tensor) -> float:
    """``H(y_1..y_n)`` by summing over every label configuration, ``P(y) = mean_t prod_i p_t(y_i)``."""
    p = log_probs.exp()
    t, n, c = p.shape
    h = 0.0
    for ys in itertools.product(range(c), repeat=n):
        joint = sum(math.prod(p[s, i, y].item() for i, y in enumerate(ys)) for s in range(t)) / t
        h -= joint * math.log(joint) if joint > 0 else 0.0
    return h


def test_exact_joint_entropy_matches_enumeration():
    lp = random_log_probs(3, 4, 3, seed=1)
    state = JointState.empty(3).extend(lp[:, 0]).extend(lp[:, 1])
    assert state.entropy == pytest.approx(brute_joint_entropy(lp[:, :2]), abs=1e-12)
    joint = state.joint_entropies(lp.exp())
    for x in (2, 3):
        assert joint[x].item() == pytest.approx(brute_joint_entropy(lp[:, [0, 1, x]]), abs=1e-12)


def test_sampled_joint_entropy_is_close_to_exact():
    lp = random_log_probs(4, 4, 3, seed=2)
    exact = brute_joint_entropy(lp[:, [0, 1, 2, 3]])
    sampled = JointState.sampled(lp[:, :3], 20_000, torch.Generator().manual_seed(0))
    assert sampled.log_joint.shape == (20_000, 4)
    assert sampled.joint_entropies(lp.exp())[3].item() == pytest.approx(exact, abs=0.02)


def test_gains_add_up_to_the_batch_joint_mutual_information():
    lp = random_log_probs(3, 6, 3, seed=3)
    index, gain, bald = batchbald(lp, 3, *gens())
    cond = scores.entropy(lp).mean(0)
    joint_mi = brute_joint_entropy(lp[:, index]) - cond[index].sum().item()
    assert gain.sum().item() == pytest.approx(joint_mi, abs=1e-12)
    assert gain[0].item() == pytest.approx(bald[index[0]].item(), abs=1e-15) and len(set(index.tolist())) == 3
    assert torch.equal(bald, scores.bald(lp))


def test_batch_of_one_is_the_bald_top_1():
    for seed in range(5):
        lp = random_log_probs(8, 30, 4, seed=seed)
        index, _, _ = batchbald(lp, 1, *gens(seed))
        assert index.tolist() == top_n(scores.bald(lp), 1, gens(seed)[0]).tolist()


def duplicate_pool() -> torch.Tensor:
    """A splits the samples {1,2} | {3,4}; A2 = A; B splits {1,3} | {2,4} less surely; C agrees."""
    a = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    b = [[0.95, 0.05], [0.05, 0.95], [0.95, 0.05], [0.05, 0.95]]
    c = [[0.6, 0.4]] * 4
    return torch.tensor([a, a, b, c], dtype=torch.float64).transpose(0, 1).log()  # [T=4, N=4, C=2]


def test_bald_picks_both_duplicates_but_batchbald_does_not():
    lp = duplicate_pool()
    assert sorted(top_n(scores.bald(lp), 2, gens()[0]).tolist()) == [0, 1]
    for seed in range(3):
        index, gain, _ = batchbald(lp, 2, *gens(seed))
        assert sorted(index.tolist()) in ([0, 2], [1, 2])
        assert gain[1].item() == pytest.approx(scores.bald(lp)[2].item(), abs=1e-12)  # B is independent of A


def test_sampled_configurations_also_skip_duplicates_and_are_seeded():
    lp = duplicate_pool().repeat(1, 3, 1)  # every item three times
    a = batchbald(lp, 4, *gens(5), max_configs=1, config_samples=400)
    b = batchbald(lp, 4, *gens(5), max_configs=1, config_samples=400)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    kinds = [i % 4 for i in a[0].tolist()]
    assert sorted(kinds[:2]) in ([0, 2], [1, 2])  # one of the A copies, then B


def test_no_nan_on_one_hot_samples():
    one_hot = torch.eye(3, dtype=torch.float64)[torch.randint(0, 3, (5, 8), generator=gens()[0])].log()
    _, gain, bald = batchbald(one_hot, 4, *gens())
    assert not torch.isnan(gain).any() and not torch.isnan(bald).any() and (gain >= 0).all()
