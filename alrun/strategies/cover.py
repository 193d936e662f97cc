"""ProbCover (Yehuda et al. 2022): greedy maximum coverage with balls of radius ``delta``."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import radius_neighbors_graph

from alrun.config.checks import check_number
from alrun.errors import ConfigError
from alrun.strategies.base import QueryContext, Selection
from alrun.strategies.embeddings import EmbeddingAcquisition, features, labelled_features
from alrun.strategies.select import tie_order


def prob_cover(
    labelled: np.ndarray, x: np.ndarray, delta: float, n: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy cover: ``n`` times, the row of ``x`` whose ball covers the most uncovered points.

    A point is covered once it lies within ``delta`` (Euclidean, ``<=``) of a labelled row or a
    pick. When every point is covered, the remaining picks are uniform over the unpicked rows.

    Args:
        labelled: ``[L, D]`` labelled features (their balls are covered from the start).
        x: ``[N, D]`` candidate features.
        delta: the ball radius.
        n: picks (at most ``N``).
        generator: stream for the uniform picks once everything is covered.

    Returns:
        picked rows of ``x`` and the number of points each newly covered (0 for uniform picks).
    """
    n_lab = len(labelled)
    points = np.concatenate([labelled, x]) if n_lab else x
    graph = radius_neighbors_graph(points, radius=delta, include_self=True).tocsr().astype(np.int64)
    covered = np.zeros(len(points), dtype=bool)
    covered[graph[:n_lab].indices] = True
    degree = graph @ (~covered).astype(np.int64)  # uncovered points in each ball
    degree[:n_lab] = -1
    picks: list[int] = []
    gains: list[int] = []
    while len(picks) < n:
        c = n_lab + int(np.argmax(degree[n_lab:]))
        if degree[c] <= 0:
            break
        ball = graph.indices[graph.indptr[c] : graph.indptr[c + 1]]
        new = ball[~covered[ball]]
        covered[new] = True
        degree -= np.asarray(graph[new].sum(axis=0)).ravel()  # they no longer count in any ball
        degree[c] = -1
        picks.append(c - n_lab)
        gains.append(len(new))
    free = np.setdiff1d(np.arange(len(x)), picks)
    extra = free[torch.randperm(len(free), generator=generator)[: n - len(picks)].numpy()]
    rows = np.concatenate([np.asarray(picks, dtype=np.int64), extra])
    return rows, np.concatenate([np.asarray(gains, dtype=np.float64), np.zeros(len(extra))])


class ProbCover(EmbeddingAcquisition):
    """ProbCover on the penultimate features; score = points newly covered by the pick.

    Args:
        delta: ball radius. With ``normalize`` (the default) features are scaled to unit length
            first, so ``delta`` lies in ``(0, 2]`` and does not drift with the features' scale.
        normalize: L2-normalise the features before building the balls.
    """

    def __init__(self, delta: float = 0.1, normalize: bool = True) -> None:
        self.delta = check_number("strategy.delta", delta, 0.0, strict=True)
        if not isinstance(normalize, bool):
            raise ConfigError(f"strategy.normalize={normalize!r} is not allowed (choose from: true, false)")
        self.normalize = normalize

    def _prepare(self, x: torch.Tensor) -> np.ndarray:
        if self.normalize:
            x = torch.nn.functional.normalize(x, dim=1)
        return x.numpy()

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """Greedy coverage of the candidates, ties broken by the tie-break stream."""
        order = tie_order(len(ctx), ctx.tiebreak)
        x = self._prepare(features(ctx)[order])
        rows, gains = prob_cover(self._prepare(labelled_features(ctx)), x, self.delta, n, ctx.acquisition)
        return Selection(order[torch.from_numpy(rows)], torch.from_numpy(gains))
