"""Stochastic batch acquisition (Kirsch et al. 2023): draw the batch instead of taking the top n of a score.

One wrapper around any scoring strategy (``base``), with ``s_i`` its scores and ``β >= 0``:

* ``power``:    ``P(i) ∝ s_i^β``       (scores must be >= 0; ``s_i = 0`` is never drawn while others remain)
* ``softmax``:  ``P(i) ∝ exp(β s_i)``
* ``softrank``: ``P(i) ∝ r_i^(-β)``    (``r_i`` = 1-based rank by score, ties in seeded random order)

The n items are drawn without replacement by Gumbel-top-k: the top n of ``logit_i + g_i`` with
``logit`` = ``β log s``, ``β s`` or ``-β log r`` and ``g_i ~ Gumbel(0, 1)`` from the round's acquisition
stream; this is sequential sampling proportional to ``exp(logit)`` among the items not yet drawn.
``β = 0`` is uniform sampling, large β tends to the top n. baal's ``temperature`` is ``1/β``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from alrun.config.checks import check_number
from alrun.errors import ConfigError
from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition, Selection
from alrun.strategies.select import top_n

KINDS = ("power", "softmax", "softrank")


def sampling_logits(scores: torch.Tensor, kind: str, beta: float, tiebreak: torch.Generator) -> torch.Tensor:
    """``log`` of the unnormalised draw probabilities of ``kind`` for ``[N]`` float64 scores."""
    if kind == "power":
        if len(scores) and scores.min() < 0:
            raise ValueError(f"power sampling needs scores >= 0, got a minimum of {scores.min().item():.4g}")
        return torch.where(scores > 0, beta * scores.clamp_min(0).log(), -math.inf)
    if kind == "softmax":
        return beta * scores
    rank = torch.empty(len(scores), dtype=torch.float64)
    rank[top_n(scores, len(scores), tiebreak)] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    return -beta * rank.log()


def gumbel_top_n(
    logits: torch.Tensor, n: int, generator: torch.Generator, tiebreak: torch.Generator
) -> torch.Tensor:
    """``n`` indices drawn without replacement with probability ∝ ``exp(logits)``, in draw order."""
    u = torch.rand(len(logits), generator=generator, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float64).tiny)))
    return top_n(logits + gumbel, n, tiebreak)


class StochasticBatch(Acquisition):
    """``power_<base>``, ``softmax_<base>`` and ``softrank_<base>``: a batch drawn from a base score.

    ``queries.csv`` keeps the base scores of the drawn items (rank = draw order).

    Args:
        base: the scoring strategy (any :class:`ScoreAcquisition`, e.g. ``bald``, ``entropy``, ``margin``).
        kind: ``power``, ``softmax`` or ``softrank``.
        beta: inverse temperature β >= 0.
        offset: added to the base scores first; only ``power`` depends on it (margin scores lie in
            ``[-1, 0]``, so ``power_margin`` uses ``offset: 1`` to draw ∝ ``(1 - (p_1 - p_2))^β``).
    """

    def __init__(
        self, base: ScoreAcquisition, kind: str = "power", beta: float = 1.0, offset: float = 0.0
    ) -> None:
        if not isinstance(base, ScoreAcquisition):
            raise ConfigError(
                f"strategy.base must be a scoring strategy (random, entropy, margin, bald, ...), "
                f"not {type(base).__name__}"
            )
        if kind not in KINDS:
            raise ConfigError(f"strategy.kind={kind!r} is not allowed (choose from: {', '.join(KINDS)})")
        self.base, self.kind = base, kind
        self.beta = check_number("strategy.beta", beta, 0.0)
        self.offset = check_number("strategy.offset", offset)
        low = base.min_score
        if kind == "power" and low is not None and low + self.offset < 0:
            raise ConfigError(
                f"strategy.offset={offset} is out of range: power sampling needs scores >= 0 and "
                f"{base.name} scores go down to {low:g} (allowed: strategy.offset >= {-low:g})"
            )

    @property
    def name(self) -> str:
        """``<kind>_<base>``, e.g. ``power_bald``."""
        return f"{self.kind}_{self.base.name}"

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Whatever the base needs, reported under this strategy's name."""
        self.base.check(net, name or self.name)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """``n`` candidates drawn from the base scores, in draw order."""
        scores = self.base.score(ctx)
        try:
            logits = sampling_logits(scores + self.offset, self.kind, self.beta, ctx.tiebreak)
        except ValueError as exc:
            raise ConfigError(f"strategy {self.name}: {exc}; shift the scores with strategy.offset") from None
        index = gumbel_top_n(logits, n, ctx.acquisition, ctx.tiebreak)
        return Selection(index, scores[index], scores)
