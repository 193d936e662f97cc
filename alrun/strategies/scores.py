"""Pure scoring functions: log-probabilities ``[..., C]`` in float64 -> scores ``[...]``.

Higher always means more informative (query first); there is no ``reverse`` flag anywhere.
Inputs are log-probabilities (from ``log_softmax``), so entropies need no ``log`` of a rounded
probability, and ``0 * log 0`` is taken as 0: a one-hot row scores exactly 0, never NaN.
"""

from __future__ import annotations

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
