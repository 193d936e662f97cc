"""Random sampling and the single-pass uncertainty strategies."""

from __future__ import annotations

import torch

from alrun.strategies import scores
from alrun.strategies.base import QueryContext, ScoreAcquisition


class Random(ScoreAcquisition):
    """Uniform sampling without replacement: i.i.d. uniform scores from the acquisition stream."""

    min_score = 0.0

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """Uniform random scores in [0, 1)."""
        return torch.rand(len(ctx), generator=ctx.acquisition, dtype=torch.float64)


class LeastConfidence(ScoreAcquisition):
    """Least confidence: ``1 - max_c p_c``."""

    min_score = 0.0

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """Least-confidence scores of the candidates."""
        return scores.least_confidence(ctx.log_probs())


class Margin(ScoreAcquisition):
    """Smallest margin: ``-(p_(1) - p_(2))``."""

    min_score = -1.0

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """Negated top-2 margins of the candidates."""
        return scores.margin(ctx.log_probs())


class Entropy(ScoreAcquisition):
    """Maximum predictive entropy: ``-sum_c p_c log p_c`` (deeplay's sign bug fixed)."""

    min_score = 0.0

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """Predictive entropies of the candidates."""
        return scores.entropy(ctx.log_probs())
