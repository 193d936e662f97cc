"""Pure scoring functions: log-probabilities ``[..., C]`` in float64 -> scores ``[...]``.

Higher always means more informative (query first); there is no ``reverse`` flag anywhere.
Inputs are log-probabilities (from ``log_softmax``), so entropies need no ``log`` of a rounded
probability, and ``0 * log 0`` is taken as 0: a one-hot row scores exactly 0, never NaN.
"""

from __future__ import annotations

import math

import torch


def _check(log_probs: torch.Tensor) -> None:
    if log_probs.dtype != torch.float64:
        raise TypeError(f"scores need float64 log-probabilities, got {log_probs.dtype}")


def plogp(log_probs: torch.Tensor) -> torch.Tensor:
    """Elementwise ``p * log p`` with ``0 * log 0 = 0``."""
    p = log_probs.exp()
    return torch.where(p > 0, p * log_probs, torch.zeros_like(p))


def least_confidence(log_probs: torch.Tensor) -> torch.Tensor:
    """``1 - max_c p_c``."""
    _check(log_probs)
    return 1.0 - log_probs.max(dim=-1).values.exp()


def margin(log_probs: torch.Tensor) -> torch.Tensor:
    """``-(p_(1) - p_(2))``: the negated gap between the two largest probabilities."""
    _check(log_probs)
    top2 = log_probs.topk(2, dim=-1).values.exp()
    return top2[..., 1] - top2[..., 0]


def entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy ``H(p) = -sum_c p_c log p_c`` in nats."""
    _check(log_probs)
    return -plogp(log_probs).sum(dim=-1) + 0.0


# ---- MC scores: log-probabilities ``[T, N, C]`` of T stochastic passes -> ``[N]`` ---------------


def _check_mc(log_probs: torch.Tensor) -> None:
    _check(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(f"MC scores need [T, N, C] log-probabilities, got shape {tuple(log_probs.shape)}")


def mean_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """``log p̄ = logsumexp_t log p_t - log T``: the log of the MC-averaged probabilities, ``[N, C]``."""
    _check_mc(log_probs)
    return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])


def mc_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the mean prediction ``H(p̄)``."""
    return entropy(mean_log_probs(log_probs))


def bald(log_probs: torch.Tensor) -> torch.Tensor:
    """Mutual information ``H(p̄) - (1/T) sum_t H(p_t)``, clamped at 0 (rounding can go below)."""
    expected = entropy(log_probs).mean(dim=0)
    return (mc_entropy(log_probs) - expected).clamp_min(0.0)


def var_ratio(log_probs: torch.Tensor) -> torch.Tensor:
    """Variation ratio of the mean prediction ``1 - max_c p̄_c``."""
    return least_confidence(mean_log_probs(log_probs))


def mean_std(log_probs: torch.Tensor) -> torch.Tensor:
    """Mean over classes of the standard deviation over samples ``(1/C) sum_c std_t p_{t,c}`` (ddof 0)."""
    _check_mc(log_probs)
    p = log_probs.exp()
    var = (p - p.mean(dim=0)).square().mean(dim=0)
    return var.sqrt().mean(dim=-1)


# ---- committee scores: the T samples (dropout passes or ensemble members) as a committee --------


def vote_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Vote entropy ``-sum_c (V_c/T) log (V_c/T)``, ``V_c`` = members whose most probable class is c.

    Hard votes (Engelson & Dagan 1996; modAL's ``vote_entropy``, scikit-activeml's ``vote_entropy``):
    a member's vote is its first most probable class; nats, not normalised by ``log T``.
    """
    _check_mc(log_probs)
    t, n, c = log_probs.shape
    votes = log_probs.argmax(dim=-1).T  # [N, T]
    counts = torch.zeros(n, c, dtype=torch.float64).scatter_add_(
        1, votes, torch.ones(n, t, dtype=torch.float64)
    )
    share = counts / t
    return -torch.special.xlogy(share, share).sum(dim=-1) + 0.0


def kl_to_mean(log_probs: torch.Tensor) -> torch.Tensor:
    """Consensus KL ``(1/T) sum_t KL(p_t || p̄)`` (McCallum & Nigam 1998), clamped at 0.

    scikit-activeml's ``average_kl_divergence``; modAL's ``KL_max_disagreement`` takes the maximum over
    members instead of the mean. Mathematically it equals :func:`bald` (both are ``H(p̄) - mean_t H(p_t)``);
    here it is summed as KL terms, ``0 * log(0 / p̄) = 0``.
    """
    mean = mean_log_probs(log_probs)
    terms = torch.where(
        log_probs > -math.inf, log_probs.exp() * (log_probs - mean), torch.zeros_like(log_probs)
    )
    return terms.sum(dim=-1).mean(dim=0).clamp_min(0.0)
