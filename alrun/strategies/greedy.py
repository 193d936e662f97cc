"""Greedy batch selection on embeddings: k-center greedy (core-set) and k-means++ seeding (BADGE).

Both keep one vector of squared distances from every row to its nearest chosen center and update
it with each new center (one matrix-vector product, ``O(N·D)`` time, ``O(N)`` extra memory); no
``N × N`` or ``N × b`` distance matrix is ever formed. The distance to the labelled set is computed
by scikit-learn's chunked ``pairwise_distances_argmin_min``. k-center greedy and k-means++ seeding
are not in scikit-learn (its ``kmeans_plusplus`` draws several trial centers per step and needs the
explicit points), so they are written here.

Ties: ``torch.argmax`` returns the first maximum, so callers shuffle the rows with the round's
tie-break stream before calling and map the indices back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import pairwise_distances_argmin_min

Chooser = Callable[[torch.Tensor], int]
SqDistTo = Callable[[int], torch.Tensor]


def sq_norms(x: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean norms of the rows of ``x``."""
    return torch.linalg.vector_norm(x, dim=1).square()


def min_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each row of ``x`` to its nearest row of ``centers`` (inf if none).

    Computed in chunks by scikit-learn (bounded by its ``working_memory``), never as a full matrix.
    """
    if len(centers) == 0:
        return torch.full((len(x),), float("inf"))
    _, dist = pairwise_distances_argmin_min(x.numpy(), centers.numpy())
    return torch.from_numpy(np.asarray(dist, dtype=np.float32))


def euclidean_sq_dist_to(x: torch.Tensor) -> SqDistTo:
    """``i -> ||x_j - x_i||²`` for all rows ``j`` (by ``|x|² - 2 x·x_i + |x_i|²``, clamped at 0)."""
    xsq = sq_norms(x)
    return lambda i: torch.addmv(xsq, x, x[i], alpha=-2.0).add_(xsq[i]).clamp_min_(0.0)


def outer_sq_dist_to(r: torch.Tensor, h: torch.Tensor) -> SqDistTo:
    """``i -> ||r_j ⊗ h_j - r_i ⊗ h_i||²`` for all ``j``, without forming the outer products.

    Uses ``<r_j ⊗ h_j, r_i ⊗ h_i> = <r_j, r_i> <h_j, h_i>``: ``O(N·(C + D))`` per center.
    """
    gsq = sq_norms(r) * sq_norms(h)
    return lambda i: torch.add(gsq, (r @ r[i]).mul_(h @ h[i]), alpha=-2.0).add_(gsq[i]).clamp_min_(0.0)


def farthest_first(
    min_sq: torch.Tensor, sq_dist_to: SqDistTo, n: int, choose: Chooser
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``n`` rows one at a time, each by ``choose`` on the current squared distances.

    Args:
        min_sq: ``[N]`` squared distance from each row to the centers so far (inf: no center yet).
        sq_dist_to: squared distances from every row to row ``i``.
        n: rows to pick.
        choose: the rule that turns the distances into the next row (picked rows hold ``-inf``).

    Returns:
        the picked rows in order, and the Euclidean distance of each to the centers before it.
    """
    min_sq = min_sq.clone()
    picked, dist = [], []
    for _ in range(n):
        i = choose(min_sq)
        picked.append(i)
        dist.append(float(min_sq[i].sqrt()))
        torch.minimum(min_sq, sq_dist_to(i), out=min_sq)  # picked rows stay at -inf
        min_sq[i] = float("-inf")
    return torch.tensor(picked, dtype=torch.int64), torch.tensor(dist, dtype=torch.float64)


def argmax_chooser(min_sq: torch.Tensor) -> int:
    """The row farthest from its nearest center (core-set)."""
    return int(torch.argmax(min_sq))


def d2_chooser(generator: torch.Generator) -> Chooser:
    """k-means++ sampling: a row with probability proportional to its squared distance.

    When every unpicked row sits on a center (all weights 0), the pick is uniform over them.
    """

    def choose(min_sq: torch.Tensor) -> int:
        weight = min_sq.double().clamp_min(0.0)
        cum = torch.cumsum(weight, dim=0)
        u = torch.rand((), generator=generator, dtype=torch.float64)
        if not cum[-1] > 0:
            free = torch.nonzero(min_sq > float("-inf")).flatten()
            return int(free[int(u * len(free))])
        i = int(torch.searchsorted(cum, u * cum[-1], right=True))
        return i if i < len(cum) else int(torch.nonzero(weight).flatten()[-1])

    return choose


def k_center_greedy(x: torch.Tensor, labelled: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sener & Savarese's core-set: ``n`` times, the row of ``x`` farthest from labelled ∪ picked.

    Returns the picked rows and each one's distance to labelled ∪ earlier picks (inf for a first
    pick without labelled rows). Rows are centred first, which keeps the distance expansion accurate.
    """
    shift = x.mean(dim=0) if len(x) else 0.0
    x, labelled = x - shift, labelled - shift
    min_sq = min_distances(x, labelled).square()
    return farthest_first(min_sq, euclidean_sq_dist_to(x), n, argmax_chooser)


def badge_seeding(
    r: torch.Tensor, h: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BADGE (Ash et al. 2020): k-means++ seeding on the gradient embeddings ``r_i ⊗ h_i``.

    The first pick is the largest gradient norm (reported as its distance: the norm); each later one
    is drawn with probability proportional to its squared distance to the nearest earlier pick.
    """
    if n == 0:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.float64)
    sq_dist_to = outer_sq_dist_to(r, h)
    norm_sq = sq_norms(r) * sq_norms(h)
    first = argmax_chooser(norm_sq)
    min_sq = sq_dist_to(first)
    min_sq[first] = float("-inf")
    rest, rest_dist = farthest_first(min_sq, sq_dist_to, n - 1, d2_chooser(generator))
    index = torch.cat([torch.tensor([first]), rest])
    return index, torch.cat([norm_sq[first : first + 1].double().sqrt(), rest_dist])
