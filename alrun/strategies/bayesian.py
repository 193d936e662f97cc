"""MC strategies: a score of T samples ``[T, N, C]`` per candidate (MC-dropout passes or ensemble members).

Each class is the ``_target_`` of one ``configs/strategy/*.yaml``; the scores themselves are the pure
functions of :mod:`alrun.strategies.scores`. The samples come from
:func:`~alrun.strategies.samples.sample_log_probs` (``strategy.source``), shared by every strategy of one
query that asks for the same ones.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from alrun.config.checks import check_bool, check_int
from alrun.strategies import scores
from alrun.strategies.base import QueryContext, ScoreAcquisition
from alrun.strategies.samples import check_source, require_samples, sample_log_probs


class MCAcquisition(ScoreAcquisition):
    """A score of T samples: ``mc_samples`` MC-dropout passes (dropout on only while the pool is
    scored) or the members of an ensemble.

    Args:
        mc_samples: T, the number of stochastic forward passes (``source=dropout``).
        consistent: one dropout mask per pass shared by every candidate (see :mod:`~alrun.strategies.mc`).
        source: ``auto``, ``dropout`` or ``members`` (see :mod:`~alrun.strategies.samples`).
    """

    min_score = 0.0  # BALD is clamped at 0; entropies, variation ratios and deviations are >= 0

    def __init__(self, mc_samples: int = 20, consistent: bool = False, source: str = "auto") -> None:
        self.mc_samples = check_int("strategy.mc_samples", mc_samples, 1)
        self.consistent = check_bool("strategy.consistent", consistent)
        self.source = check_source(source)

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Refuse a net that cannot give the samples (no dropout layers, or no members)."""
        require_samples(net, self.source, name or self.name, self.consistent)

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """The MC score of every candidate."""
        return self.mc_score(sample_log_probs(ctx, self.source, self.mc_samples, self.consistent))

    @abstractmethod
    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """``[N]`` scores from ``[T, N, C]`` float64 log-probabilities."""


class Bald(MCAcquisition):
    """BALD (Houlsby et al. 2011; Gal et al. 2017): mutual information between label and weights."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """BALD of the samples (:func:`~alrun.strategies.scores.bald`)."""
        return scores.bald(log_probs)


class McEntropy(MCAcquisition):
    """Predictive entropy of the MC-averaged prediction ``H(p̄)``."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Entropy of the mean prediction of the samples (:func:`~alrun.strategies.scores.mc_entropy`)."""
        return scores.mc_entropy(log_probs)


class VarRatio(MCAcquisition):
    """Variation ratio ``1 - max_c p̄_c`` of the MC-averaged prediction."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Variation ratio of the samples (:func:`~alrun.strategies.scores.var_ratio`)."""
        return scores.var_ratio(log_probs)


class MeanStd(MCAcquisition):
    """Mean standard deviation over classes of the MC samples (Kampffmeyer et al. 2016)."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Mean standard deviation of the samples (:func:`~alrun.strategies.scores.mean_std`)."""
        return scores.mean_std(log_probs)
