"""Stochastic batch acquisition: seeded, and drawn with the stated probabilities."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch
from scipy.stats import chisquare

from alrun.errors import ConfigError
from alrun.strategies import Bald, BatchBald, Entropy, Margin, StochasticBatch
from alrun.strategies.base import QueryContext, ScoreAcquisition
from alrun.strategies.stochastic import gumbel_top_n, sampling_logits

SCORES = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
DRAWS = 4000


class Fixed(ScoreAcquisition):
    """A base strategy with given scores."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.scores = scores

    def score(self, ctx: QueryContext) -> torch.Tensor:
        return self.scores


def ctx_for(n: int, seed: int) -> QueryContext:
    return QueryContext(
        x=torch.zeros(n, 1),
        net=None,  # type: ignore[arg-type]  # the fixed base never looks at the net
        chunk_size=16,
        tiebreak=torch.Generator().manual_seed(seed),
        acquisition=torch.Generator().manual_seed(seed + 10_000),
    )


def draw_many(kind: str, beta: float, n: int) -> Counter:
    """Draw ``DRAWS`` batches from one continuing stream; count them (ordered)."""
    gen, tiebreak = torch.Generator().manual_seed(123), torch.Generator().manual_seed(7)
    logits = sampling_logits(SCORES, kind, beta, tiebreak)
    return Counter(tuple(gumbel_top_n(logits, n, gen, tiebreak).tolist()) for _ in range(DRAWS))


def plackett_luce(weights: list[float], order: tuple[int, ...]) -> float:
    """Probability of drawing ``order`` first, without replacement, proportional to ``weights``."""
    left, prob = sum(weights), 1.0
    for i in order:
        prob *= weights[i] / left
        left -= weights[i]
    return prob


WEIGHTS = {
    ("power", 2.0): [s**2 for s in SCORES.tolist()],
    ("softmax", 3.0): [math.exp(3 * s) for s in SCORES.tolist()],
    ("softrank", 1.0): [1 / 4, 1 / 3, 1 / 2, 1.0],  # ranks 4, 3, 2, 1
}


@pytest.mark.parametrize(("kind", "beta"), list(WEIGHTS))
@pytest.mark.parametrize("n", [1, 2])
def test_pick_frequencies_follow_the_stated_distribution(kind, beta, n):
    counts = draw_many(kind, beta, n)
    orders = list(itertools.permutations(range(4), n))
    expected = [DRAWS * plackett_luce(WEIGHTS[kind, beta], o) for o in orders]
    observed = [counts.get(o, 0) for o in orders]
    assert sum(observed) == DRAWS
    assert chisquare(observed, expected).pvalue > 1e-3


def test_same_seed_same_batch_different_seed_different_batch():
    scores = torch.linspace(0.01, 1.0, 60, dtype=torch.float64)
    for kind in ("power", "softmax", "softrank"):
        rule = StochasticBatch(Fixed(scores), kind, beta=1.0)
        a, b = rule.select(ctx_for(60, 1), 8), rule.select(ctx_for(60, 1), 8)
        c = rule.select(ctx_for(60, 2), 8)
        assert torch.equal(a.index, b.index) and not torch.equal(a.index, c.index), kind
        assert torch.equal(a.score, scores[a.index]) and torch.equal(a.pool_score, scores)


def test_power_never_draws_a_zero_score_while_positive_ones_remain():
    scores = torch.tensor([0.0, 0.5, 0.0, 0.1, 0.0], dtype=torch.float64)
    rule = StochasticBatch(Fixed(scores), "power")
    for seed in range(20):
        index = rule.select(ctx_for(5, seed), 3).index.tolist()
        assert sorted(index[:2]) == [1, 3] and index[2] in (0, 2, 4)


def test_power_refuses_negative_scores_unless_offset_and_draws_with_the_shifted_scores():
    margins = torch.tensor([-0.9, -0.1, -0.5], dtype=torch.float64)
    with pytest.raises(ConfigError, match="strategy power_fixed: power sampling needs scores >= 0"):
        StochasticBatch(Fixed(margins), "power").select(ctx_for(3, 0), 1)
    # one draw of 3 per seed: P(i) ∝ (s_i + offset)^β, so the offset sets the odds
    for offset, beta in ((1.0, 2.0), (2.0, 2.0)):
        rule = StochasticBatch(Fixed(margins), "power", beta=beta, offset=offset)
        counts = Counter(int(rule.select(ctx_for(3, seed), 1).index) for seed in range(DRAWS))
        weights = [(s + offset) ** beta for s in margins.tolist()]
        expected = [DRAWS * w / sum(weights) for w in weights]
        observed = [counts.get(i, 0) for i in range(3)]
        assert sum(observed) == DRAWS and chisquare(observed, expected).pvalue > 1e-3, (offset, observed)
    sel = rule.select(ctx_for(3, 0), 3)
    assert torch.equal(sel.score, margins[sel.index])  # queries.csv keeps the unshifted base scores


def test_names_and_bad_settings():
    assert StochasticBatch(Bald(), "power").name == "power_bald"
    assert StochasticBatch(Margin(), "softrank").name == "softrank_margin"
    with pytest.raises(ConfigError, match=r"strategy\.kind='powr'"):
        StochasticBatch(Entropy(), "powr")
    with pytest.raises(ConfigError, match=r"strategy\.beta=-1 is out of range \(allowed: numbers >= 0\)"):
        StochasticBatch(Entropy(), "power", beta=-1)
    with pytest.raises(ConfigError, match=r"strategy\.beta='x' is not a number \(allowed: numbers >= 0\)"):
        StochasticBatch(Entropy(), "power", beta="x")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"strategy\.offset=inf is out of range \(allowed: finite numbers\)"
    ):
        StochasticBatch(Entropy(), "power", offset=math.inf)
    with pytest.raises(ConfigError, match=r"strategy\.base must be a scoring strategy"):
        StochasticBatch(BatchBald(), "power")  # type: ignore[arg-type]
