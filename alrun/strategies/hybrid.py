"""Cluster-margin (Citovsky et al. 2021): the lowest-margin items, spread over clusters round-robin."""

from __future__ import annotations

import numpy as np
import torch

from alrun.config.checks import check_int
from alrun.strategies import clusters, scores
from alrun.strategies.base import QueryContext, Selection
from alrun.strategies.embeddings import EmbeddingAcquisition, features, labelled_features
from alrun.strategies.select import top_n


class ClusterMargin(EmbeddingAcquisition):
    """Cluster-margin: round-robin over the clusters of the ``margin_multiple · n`` lowest margins.

    The pool (labelled + unlabelled features) is clustered by average-linkage agglomerative
    clustering into ``n_clusters`` clusters, merges restricted to a ``n_neighbors``-NN graph. The
    paper clusters once, with the first model; here the clusters are recomputed at every query from
    the current model. That keeps the strategy stateless (a query depends only on the round's model,
    pool and streams, so a resumed run repeats it exactly) and needs no item identity across rounds;
    the clustering is deterministic. Then the ``margin_multiple · n`` candidates with the smallest
    margins are grouped by cluster, and one random member of each cluster is taken in turn,
    smallest group first. Score of a pick: its negated margin (as the ``margin`` strategy).

    Args:
        margin_multiple: how many times ``n`` lowest-margin candidates to spread (``k_m = m·n``).
        n_clusters: clusters of the pool.
        n_neighbors: neighbours per item in the graph that restricts merges.
    """

    def __init__(self, margin_multiple: int = 10, n_clusters: int = 100, n_neighbors: int = 15) -> None:
        self.margin_multiple = check_int("strategy.margin_multiple", margin_multiple, 1)
        self.n_clusters = check_int("strategy.n_clusters", n_clusters, 1)
        self.n_neighbors = check_int("strategy.n_neighbors", n_neighbors, 1)

    def pool_clusters(self, ctx: QueryContext) -> np.ndarray:
        """Cluster of each candidate, from clustering labelled + unlabelled items together."""
        lab = labelled_features(ctx)
        x = torch.cat([lab, features(ctx)]).numpy()
        return clusters.average_linkage(x, self.n_clusters, self.n_neighbors)[len(lab) :]

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The cluster-margin batch, in round-robin order."""
        cluster = self.pool_clusters(ctx)
        score = scores.margin(ctx.log_probs())
        low = top_n(score, min(len(ctx), self.margin_multiple * n), ctx.tiebreak)
        pos = clusters.round_robin(cluster[low.numpy()], n, ctx.acquisition)
        index = low[torch.from_numpy(pos)]
        return Selection(index, score[index], score)
