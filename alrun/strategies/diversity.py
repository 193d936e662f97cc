"""Diversity strategies on embeddings: core-set, BADGE, k-means and TypiClust.

Each picks a whole batch at once (an :class:`Acquisition`, not a top-n score). The candidates are
first put in a random order drawn from the round's tie-break stream, so that every "first maximum"
rule breaks ties at random; stochastic steps draw from the round's acquisition stream.
"""

from __future__ import annotations

import numpy as np
import torch

from alrun.config.checks import check_int
from alrun.strategies import clusters, greedy
from alrun.strategies.base import QueryContext, Selection
from alrun.strategies.embeddings import EmbeddingAcquisition, features, gradient_factors, labelled_features
from alrun.strategies.select import tie_order


def nothing() -> Selection:
    """An empty batch."""
    return Selection(torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.float64))


class Coreset(EmbeddingAcquisition):
    """Core-set (Sener & Savarese 2018): k-center greedy on the features, from the labelled set.

    Score of a pick: its Euclidean distance to the nearest labelled item or earlier pick (so the
    scores decrease down the batch); NaN for a first pick when nothing is labelled.
    """

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The ``n`` k-center-greedy picks, farthest first."""
        order = tie_order(len(ctx), ctx.tiebreak)
        rows, dist = greedy.k_center_greedy(features(ctx)[order], labelled_features(ctx), n)
        return Selection(order[rows], torch.nan_to_num(dist, nan=np.nan, posinf=np.nan))


class Badge(EmbeddingAcquisition):
    """BADGE (Ash et al. 2020): k-means++ seeding on gradient embeddings ``(p - onehot(ŷ)) ⊗ h``.

    Score of a pick: the distance of its gradient embedding to the nearest earlier pick; for the
    first pick (the largest gradient norm) its norm.
    """

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The ``n`` seeds, the largest gradient norm first, then D²-sampled ones in draw order."""
        order = tie_order(len(ctx), ctx.tiebreak)
        r, h = gradient_factors(ctx)
        rows, dist = greedy.badge_seeding(r[order], h[order], n, ctx.acquisition)
        return Selection(order[rows], dist)


class KMeansSampling(EmbeddingAcquisition):
    """k-means on the candidates' features into ``n`` clusters; the candidate nearest each centroid.

    scikit-learn's ``KMeans`` (k-means++ init, one run) seeded from the acquisition stream. Picks are
    ordered by the size of the cluster they stand for, which is their score. If duplicate points
    leave clusters empty, the batch is filled with uniform picks (score NaN).

    Args:
        max_iter: Lloyd iterations at most.
    """

    def __init__(self, max_iter: int = 300) -> None:
        self.max_iter = check_int("strategy.max_iter", max_iter, 1)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """One candidate per k-means cluster, largest cluster first."""
        if n == 0:
            return nothing()
        order = tie_order(len(ctx), ctx.tiebreak)
        x = features(ctx)[order].numpy()
        seed = clusters.generator_seed(ctx.acquisition)
        labels, centers = clusters.kmeans(x, n, seed, self.max_iter)
        rows, sizes = clusters.centroid_representatives(x, labels, centers)
        free = np.setdiff1d(np.arange(len(x)), rows)
        extra = free[torch.randperm(len(free), generator=ctx.acquisition)[: n - len(rows)].numpy()]
        index = torch.from_numpy(np.concatenate([rows, extra]))
        score = np.concatenate([sizes.astype(np.float64), np.full(len(extra), np.nan)])
        return Selection(order[index], torch.from_numpy(score))


class TypiClust(EmbeddingAcquisition):
    """TypiClust (Hacohen et al. 2022): the most typical item of the largest clusters without a label.

    k-means over labelled + unlabelled features into ``min(L + n, max_clusters)`` clusters; clusters
    with the fewest labelled members and then the most members come first, those of at most
    ``min_cluster_size`` items last; from each in turn, the unlabelled item of highest typicality
    (inverse mean distance to its ``k_neighbors`` nearest unlabelled cluster mates), round-robin.
    Score of a pick: that typicality.

    Args:
        k_neighbors: neighbours in the typicality (20 in the paper).
        max_clusters: cap on the number of clusters (500 in the paper's code).
        min_cluster_size: clusters this small are used only after the others (5 in the paper's code).
    """

    def __init__(self, k_neighbors: int = 20, max_clusters: int = 500, min_cluster_size: int = 5) -> None:
        self.k_neighbors = check_int("strategy.k_neighbors", k_neighbors, 1)
        self.max_clusters = check_int("strategy.max_clusters", max_clusters, 1)
        self.min_cluster_size = check_int("strategy.min_cluster_size", min_cluster_size, 0)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The TypiClust batch, in pick order."""
        if n == 0:
            return nothing()
        order = tie_order(len(ctx), ctx.tiebreak)
        lab = labelled_features(ctx)
        x = torch.cat([lab, features(ctx)[order]]).numpy()
        k = min(len(lab) + n, self.max_clusters, len(x))
        labels, _ = clusters.kmeans(x, k, clusters.generator_seed(ctx.acquisition))
        rows, typ = clusters.typiclust_picks(x, labels, len(lab), n, self.k_neighbors, self.min_cluster_size)
        return Selection(order[torch.from_numpy(rows)], torch.from_numpy(typ))
