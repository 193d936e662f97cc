"""EPIG against a brute-force computation on tiny inputs, and the strategy's targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alrun.errors import ConfigError
from alrun.models.nets import MLP
from alrun.strategies import Epig
from alrun.strategies.base import QueryContext
from alrun.strategies.epig import epig
from alrun.strategies.mc import mc_log_probs


def brute_force(pool: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """EPIG by its definition, one candidate, target and label pair at a time, from probabilities."""
    t, n, c = pool.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(targets.shape[1]):
            px, pt = pool[:, i].mean(0), targets[:, j].mean(0)
            mi = 0.0
            for y in range(c):
                for ys in range(c):
                    joint = np.mean([pool[s, i, y] * targets[s, j, ys] for s in range(t)])
                    if joint > 0:
                        mi += joint * math.log(joint / (px[y] * pt[ys]))
            out[i] += max(mi, 0.0) / targets.shape[1]
    return out


def dirichlet(shape: tuple[int, ...], seed: int) -> np.ndarray:
    p = np.random.default_rng(seed).dirichlet(np.full(shape[-1], 0.5), size=shape[:-1])
    p[p < 0.02] = 0.0  # exact zeros: 0 * log 0 terms
    return p / p.sum(-1, keepdims=True)


def log(p: np.ndarray) -> torch.Tensor:
    with np.errstate(divide="ignore"):
        return torch.from_numpy(np.log(p))


@pytest.mark.parametrize("chunk", [1 << 22, 1])
def test_epig_matches_brute_force(chunk):
    pool, targets = dirichlet((4, 5, 3), 0), dirichlet((4, 3, 3), 1)
    got = epig(log(pool), log(targets), chunk_elements=chunk)
    np.testing.assert_allclose(got.numpy(), brute_force(pool, targets), rtol=1e-10, atol=1e-12)
    assert (got > 0).all()


def test_epig_is_zero_when_the_samples_agree_and_finite_for_extreme_logits():
    agree = torch.from_numpy(dirichlet((1, 6, 4), 2)).expand(5, 6, 4)
    assert epig(agree.log(), agree[:, :3].log()).abs().max() < 1e-12
    logits = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1e3
    got = epig(logits.log_softmax(-1), logits[:, :2].log_softmax(-1))
    assert torch.isfinite(got).all() and (got >= 0).all()


def test_epig_refuses_mismatched_samples():
    with pytest.raises(ValueError, match=r"\[T, N, C\]"):
        epig(torch.zeros(3, 4, 2, dtype=torch.float64), torch.zeros(2, 4, 2, dtype=torch.float64))


def make_ctx(net: torch.nn.Module, x: torch.Tensor) -> QueryContext:
    return QueryContext(
        x=x,
        net=net.eval(),
        chunk_size=7,
        tiebreak=torch.Generator().manual_seed(0),
        acquisition=torch.Generator().manual_seed(1),
        mc_seed=5,
    )


@pytest.fixture
def net_and_x():
    torch.manual_seed(0)  # only this test's toy net
    return MLP((6,), 4, hidden=(16,), dropout=0.5), torch.randn(30, 6)


def test_pool_targets_are_seeded_candidates_under_consistent_masks(net_and_x):
    net, x = net_and_x
    strategy = Epig(mc_samples=6, n_targets=8)
    got = strategy.score(make_ctx(net, x))
    pick = torch.randperm(30, generator=torch.Generator().manual_seed(1))[:8]
    lp = mc_log_probs(make_ctx(net, x), 6, consistent=True)
    torch.testing.assert_close(got, epig(lp, lp[:, pick]))
    assert torch.equal(got, strategy.score(make_ctx(net, x)))


def test_a_given_target_set_is_scored_with_the_candidates_masks(net_and_x):
    net, x = net_and_x
    targets = torch.randn(5, 6)
    got = Epig(mc_samples=6, n_targets=100, targets=targets).score(make_ctx(net, x))
    both = mc_log_probs(make_ctx(net, torch.cat([x, targets])), 6, consistent=True)
    torch.testing.assert_close(got, epig(both[:, :30], both[:, 30:]), rtol=1e-5, atol=1e-6)


def test_target_files_are_loaded_and_checked(net_and_x, tmp_path):
    net, _ = net_and_x
    np.save(tmp_path / "good.npy", np.zeros((3, 6), dtype=np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), dtype=np.float32))
    Epig(targets=str(tmp_path / "good.npy")).check(net)
    with pytest.raises(ConfigError, match=r"^strategy.targets: inputs of shape \(5,\) do not fit the model"):
        Epig(targets=str(tmp_path / "bad.npy")).check(net)
    with pytest.raises(ConfigError, match="no such file"):
        Epig(targets=str(tmp_path / "none.npy"))
    with pytest.raises(ConfigError, match="needs MC dropout"):
        Epig().check(MLP((6,), 4))
