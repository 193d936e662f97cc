"""Query by committee: the T samples (ensemble members, or MC-dropout passes) vote or are compared
with their consensus. The scores are :func:`~alrun.strategies.scores.vote_entropy` and
:func:`~alrun.strategies.scores.kl_to_mean`."""

from __future__ import annotations

import torch

from alrun.strategies import scores
from alrun.strategies.bayesian import MCAcquisition


class VoteEntropy(MCAcquisition):
    """Vote entropy of the committee's hard votes (Engelson & Dagan 1996; modAL, scikit-activeml)."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Entropy of the members' vote shares (:func:`~alrun.strategies.scores.vote_entropy`)."""
        return scores.vote_entropy(log_probs)


class KlToMean(MCAcquisition):
    """Mean KL divergence of each member from the consensus (McCallum & Nigam 1998)."""

    def mc_score(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Consensus KL of the members (:func:`~alrun.strategies.scores.kl_to_mean`)."""
        return scores.kl_to_mean(log_probs)
