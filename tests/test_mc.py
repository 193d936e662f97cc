"""MC-dropout scores on hand-made ``[T, N, C]`` probabilities, and MC-dropout sampling of a real net."""

from __future__ import annotations

import math

import pytest
import torch

from alrun.errors import ConfigError
from alrun.models.nets import MLP
from alrun.strategies import scores
from alrun.strategies.base import QueryContext
from alrun.strategies.mc import mc_log_probs

# T = 2 samples of N = 4 items over C = 3 classes
P = torch.tensor(
    [
        [[0.8, 0.2, 0.0], [0.9, 0.05, 0.05], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
        [[0.2, 0.8, 0.0], [0.9, 0.05, 0.05], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
    ],
    dtype=torch.float64,
)
LP = P.log()
H_08 = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))  # entropy of (0.8, 0.2)
H_09 = -(0.9 * math.log(0.9) + 2 * 0.05 * math.log(0.05))  # entropy of (0.9, 0.05, 0.05)


def test_mc_scores_match_hand_computed_values():
    # item 0: samples disagree softly; 1: agree; 2: one-hot samples disagree; 3: one-hot samples agree
    assert scores.mc_entropy(LP).tolist() == pytest.approx([math.log(2), H_09, math.log(2), 0.0], abs=1e-12)
    assert scores.bald(LP).tolist() == pytest.approx([math.log(2) - H_08, 0.0, math.log(2), 0.0], abs=1e-12)
    assert scores.var_ratio(LP).tolist() == pytest.approx([0.5, 0.1, 0.5, 0.0], abs=1e-12)
    # population std over t per class (0.3, 0.3, 0) and (0.5, 0.5, 0), averaged over the 3 classes
    assert scores.mean_std(LP).tolist() == pytest.approx([0.2, 0.0, 1 / 3, 0.0], abs=1e-12)


def test_bald_is_zero_when_samples_agree_and_positive_when_they_disagree():
    agree = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64).log().expand(5, 1, 3)
    assert scores.bald(agree).item() == pytest.approx(0.0, abs=1e-12)
    assert scores.bald(agree).item() >= 0.0  # clamped: rounding never makes it negative
    disagree = torch.tensor([[[0.7, 0.2, 0.1]], [[0.1, 0.2, 0.7]]], dtype=torch.float64).log()
    assert scores.bald(disagree).item() > 0.01


def test_mc_scores_have_no_nan_on_one_hot_samples():
    one_hot = torch.eye(3, dtype=torch.float64)[torch.tensor([[0, 1, 2], [0, 0, 0]])].log()  # [2, 3, 3]
    for score in (scores.bald, scores.mc_entropy, scores.var_ratio, scores.mean_std):
        assert not torch.isnan(score(one_hot)).any(), score.__name__
    assert scores.bald(one_hot).tolist() == pytest.approx([0.0, math.log(2), math.log(2)], abs=1e-12)


def test_mc_scores_refuse_a_missing_sample_axis_and_float32():
    with pytest.raises(ValueError, match=r"\[T, N, C\]"):
        scores.bald(LP[0])
    with pytest.raises(TypeError, match="float64"):
        scores.bald(LP.float())


def make_ctx(net: torch.nn.Module, x: torch.Tensor, chunk: int = 4096, mc_seed: int = 7) -> QueryContext:
    gen = torch.Generator().manual_seed(0)
    return QueryContext(x=x, net=net.eval(), chunk_size=chunk, tiebreak=gen, acquisition=gen, mc_seed=mc_seed)


@pytest.fixture
def net_and_x():
    torch.manual_seed(0)  # only this test's toy net; alrun itself never seeds the global RNG
    return MLP((6,), 4, hidden=(32, 32), dropout=0.5), torch.randn(40, 6)


@pytest.mark.parametrize("consistent", [False, True])
def test_dropout_is_on_in_mc_mode_only(net_and_x, consistent):
    net, x = net_and_x
    lp = mc_log_probs(make_ctx(net, x), 2, consistent)
    assert lp.shape == (2, 40, 4) and lp.dtype == torch.float64
    assert not torch.equal(lp[0], lp[1])  # two MC passes differ
    assert not net.training and not any(m.training for m in net.modules())  # eval mode afterwards
    assert torch.equal(make_ctx(net, x).log_probs(), make_ctx(net, x).log_probs())  # eval passes agree


def test_mc_samples_are_seeded_by_the_query_stream_and_cached(net_and_x):
    net, x = net_and_x
    ctx = make_ctx(net, x, mc_seed=3)
    a = mc_log_probs(ctx, 3)
    assert mc_log_probs(ctx, 3) is a  # one sampling per query and (T, consistent)
    assert torch.equal(a, mc_log_probs(make_ctx(net, x, mc_seed=3), 3))
    assert not torch.equal(a, mc_log_probs(make_ctx(net, x, mc_seed=4), 3))


def test_consistent_masks_are_shared_by_the_pool_and_independent_of_chunking(net_and_x):
    net, x = net_and_x
    twins = torch.cat([x[:1], x[:1]])
    same = mc_log_probs(make_ctx(net, twins), 4, consistent=True)
    torch.testing.assert_close(same[:, 0], same[:, 1], rtol=1e-6, atol=1e-6)  # one mask for every item
    other = mc_log_probs(make_ctx(net, twins), 4, consistent=False)
    assert (other[:, 0] - other[:, 1]).abs().max() > 1e-3  # independent masks per item
    whole = mc_log_probs(make_ctx(net, x, chunk=4096), 5, consistent=True)
    chunked = mc_log_probs(make_ctx(net, x, chunk=7), 5, consistent=True)
    # same masks; only float32 matmul rounding differs between batch shapes (~1e-7)
    torch.testing.assert_close(whole, chunked, rtol=1e-6, atol=1e-6)
    assert (whole - mc_log_probs(make_ctx(net, x, chunk=7), 5, consistent=False)).abs().max() > 1e-3


def test_mc_sampling_leaves_the_global_rng_alone(net_and_x):
    net, x = net_and_x
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    mc_log_probs(make_ctx(net, x), 3)
    assert torch.equal(torch.rand(3), expected)


def test_a_net_without_dropout_is_refused():
    net = MLP((6,), 4, dropout=0.0)
    with pytest.raises(ConfigError, match=r"model\.dropout=0\.5"):
        mc_log_probs(make_ctx(net, torch.randn(5, 6)), 3)
