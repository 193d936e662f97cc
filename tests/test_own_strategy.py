"""A scoring function as a strategy: the same picks as the built-in score, the wrappers, the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from alrun.errors import ConfigError
from alrun.models.nets import MLP
from alrun.seeding import Streams
from alrun.strategies import Bald, Entropy, QueryContext, StochasticBatch, scores
from alrun.strategies.function import FunctionScore, build_acquisition

X = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))


def context(net: nn.Module, seed: int = 0) -> QueryContext:
    streams = Streams(seed)
    return QueryContext(
        x=X,
        net=net.eval(),
        chunk_size=7,
        tiebreak=streams.torch("tiebreak", 1),
        acquisition=streams.torch("acquisition", 1),
        mc_seed=streams.entropy("mc_dropout", 1),
    )


def net(dropout: float = 0.0) -> MLP:
    torch.manual_seed(0)
    return MLP((4,), 3, hidden=(8,), dropout=dropout)


def node(target: str, **settings: object):
    return OmegaConf.create({"_target_": target, **settings})


def scaled_entropy(log_probs: torch.Tensor, factor: float = 1.0) -> np.ndarray:
    """A score returned as numpy, with a setting of its own."""
    return factor * scores.entropy(log_probs).numpy()


def two_arguments(log_probs: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return log_probs


def test_a_function_picks_what_the_built_in_score_picks():
    model = net()
    fn = build_acquisition(node("alrun.strategies.scores.entropy", _partial_=True))
    assert isinstance(fn, FunctionScore) and fn.name == "entropy"
    ours, theirs = fn.select(context(model), 6), Entropy().select(context(model), 6)
    assert torch.equal(ours.index, theirs.index) and torch.equal(ours.pool_score, theirs.pool_score)
    numpy_fn = build_acquisition(node(f"{__name__}.scaled_entropy", _partial_=True, factor=2.0))
    assert torch.equal(numpy_fn.select(context(model), 6).index, theirs.index)
    assert torch.allclose(numpy_fn.score(context(model)), 2 * theirs.pool_score)


def test_with_mc_samples_the_function_gets_t_passes_and_needs_dropout():
    model = net(dropout=0.5)
    fn = build_acquisition(
        node("alrun.strategies.scores.bald", _partial_=True, mc_samples=5, consistent=True)
    )
    fn.check(model)
    ours, theirs = fn.select(context(model), 6), Bald(mc_samples=5, consistent=True).select(context(model), 6)
    assert torch.equal(ours.index, theirs.index) and torch.equal(ours.pool_score, theirs.pool_score)
    with pytest.raises(
        ConfigError, match=r"strategy bald needs MC dropout, but the model \(MLP\) has no dropout"
    ):
        fn.check(net())
    FunctionScore(scores.entropy).check(net())  # one pass: any net will do


def test_a_function_is_the_base_of_a_stochastic_wrapper(make_cfg):
    cfg = make_cfg("strategy=power_entropy")
    cfg.strategy.base = node(f"{__name__}.scaled_entropy", _partial_=True)
    wrapped = build_acquisition(cfg.strategy)
    assert isinstance(wrapped, StochasticBatch) and wrapped.name == "power_scaled_entropy"
    built_in = build_acquisition(make_cfg("strategy=power_entropy").strategy)
    model = net()
    assert torch.equal(wrapped.select(context(model), 6).index, built_in.select(context(model), 6).index)


def test_classes_work_with_or_without_partial():
    for settings in ({}, {"_partial_": True}):
        assert isinstance(build_acquisition(node("alrun.strategies.Entropy", **settings)), Entropy)


@pytest.mark.parametrize(
    ("target", "settings", "needle"),
    [
        (
            "alrun.strategies.scores.entropy",
            {},
            "strategy: alrun.strategies.scores.entropy is a function; a "
            "scoring function needs `_partial_: true` in its config",
        ),
        (
            f"{__name__}.two_arguments",
            {"_partial_": True},
            "strategy two_arguments: missing a required argument: "
            "'other'; alrun calls it as two_arguments(log_probs)",
        ),
        (
            f"{__name__}.scaled_entropy",
            {"_partial_": True, "facter": 2},
            "unexpected keyword argument 'facter'",
        ),
        (
            "collections.OrderedDict",
            {},
            "strategy: collections.OrderedDict built a OrderedDict; a strategy is",
        ),
    ],
)
def test_a_strategy_that_cannot_work_is_one_line(target, settings, needle):
    with pytest.raises(ConfigError) as err:
        build_acquisition(node(target, **settings))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("fn", "needle"),
    [
        (lambda lp: lp, "returned Tensor of shape (30, 3) (dtype float64) for 30 candidates"),
        (lambda lp: ["a"] * len(lp), "it must return one number per candidate"),
        (lambda lp: torch.full((len(lp),), float("nan")), "returned NaN scores for 30 candidates"),
    ],
)
def test_bad_scores_stop_the_query_with_one_line(fn, needle):
    with pytest.raises(ConfigError) as err:
        FunctionScore(fn).score(context(net()))
    assert needle in str(err.value) and "\n" not in str(err.value)
