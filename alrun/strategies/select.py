"""Top-n selection with seeded tie-breaking: the one place where scores become a batch."""

from __future__ import annotations

import torch


def top_n(scores: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of the ``n`` highest scores, ties broken by a seeded random permutation.

    A stable descending sort of the scores taken in a random order: equal scores keep that random
    order, so a saturated model does not fall back to picking the lowest indices.

    Args:
        scores: ``[N]`` scores, higher = pick first; NaN is refused.
        n: how many to pick (``0 <= n <= N``).
        generator: the round's tie-break stream (CPU).

    Returns:
        ``[n]`` int64 indices into ``scores``, best first.
    """
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {tuple(scores.shape)}")
    if not 0 <= n <= len(scores):
        raise ValueError(f"cannot pick {n} of {len(scores)} candidates")
    if torch.isnan(scores).any():
        raise ValueError("acquisition scores contain NaN")
    perm = tie_order(len(scores), generator)
    order = torch.argsort(scores.cpu()[perm], descending=True, stable=True)
    return perm[order[:n]]


def tie_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random order of ``n`` candidates from the round's tie-break stream.

    Strategies that take "the first maximum" (top-n, greedy picks, clustering) see the candidates
    in this order, so ties go to a seeded random candidate rather than the lowest index.
    """
    return torch.randperm(n, generator=generator)


def subsample(n: int, k: int | None, generator: torch.Generator) -> torch.Tensor | None:
    """A seeded random ``k`` of ``n`` candidates (ascending indices), or ``None`` to score them all.

    Args:
        n: number of candidates.
        k: how many to score (``None`` or 0 = all; ``k >= n`` also scores all).
        generator: the round's subsample stream (CPU).
    """
    if not k or k >= n:
        return None
    return torch.randperm(n, generator=generator)[:k].sort().values
