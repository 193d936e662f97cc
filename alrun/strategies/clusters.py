"""Cluster-based selection on embeddings: k-means representatives, TypiClust, cluster round-robin.

Pure functions of NumPy arrays; clustering and neighbour searches are scikit-learn's (``KMeans``,
``NearestNeighbors``, ``AgglomerativeClustering`` over a k-nearest-neighbour graph), whose distance
computations are chunked. Ties go to the first row, so callers shuffle rows with a seeded stream.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.neighbors import NearestNeighbors, kneighbors_graph


def generator_seed(generator: torch.Generator) -> int:
    """A seed for a library that takes an integer ``random_state``, drawn from ``generator``."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def kmeans(x: np.ndarray, k: int, seed: int, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels ``[N]`` and centroids ``[k, D]`` of scikit-learn's k-means (k-means++ init)."""
    model = KMeans(n_clusters=k, n_init=1, max_iter=max_iter, random_state=seed).fit(x)
    return model.labels_.astype(np.int64), model.cluster_centers_


def centroid_representatives(
    x: np.ndarray, labels: np.ndarray, centers: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The row nearest to each non-empty cluster's centroid, largest cluster first, and the sizes."""
    dist = np.linalg.norm(x - centers[labels], axis=1)
    order = np.lexsort((dist, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    sizes = np.bincount(labels)[labels[first]]
    rank = np.argsort(-sizes, kind="stable")
    return first[rank], sizes[rank]


def typicality(x: np.ndarray, k_neighbors: int) -> np.ndarray:
    """Inverse mean Euclidean distance to the ``K = min(k_neighbors, len // 2)`` nearest other rows.

    Hacohen et al. 2022; a row with ``K`` exact duplicates is infinitely typical; one row alone: NaN.
    """
    if len(x) < 2:
        return np.full(len(x), np.nan)
    k = max(1, min(k_neighbors, len(x) // 2))
    dist, _ = NearestNeighbors(n_neighbors=k).fit(x).kneighbors()
    with np.errstate(divide="ignore"):
        return 1.0 / dist.mean(axis=1)


def typiclust_order(labels: np.ndarray, n_labelled: int, min_cluster_size: int) -> list[np.ndarray]:
    """TypiClust's cluster order: fewest labelled members first, then largest first.

    Returns two groups: the clusters larger than ``min_cluster_size``, then the others (used only
    once the first group has no unlabelled member left).
    """
    ids, sizes = np.unique(labels, return_counts=True)
    existing = np.bincount(labels[:n_labelled], minlength=int(ids.max()) + 1)[ids]
    order = np.lexsort((-sizes, existing))
    big = sizes[order] > min_cluster_size
    return [ids[order][big], ids[order][~big]]


def typiclust_picks(
    x: np.ndarray,
    labels: np.ndarray,
    n_labelled: int,
    n: int,
    k_neighbors: int = 20,
    min_cluster_size: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """The most typical unlabelled row of each cluster in TypiClust's order, round-robin.

    Args:
        x: ``[L + N, D]`` features, the ``L = n_labelled`` labelled rows first.
        labels: cluster of each row.
        n_labelled: number of labelled rows at the top of ``x``.
        n: picks (at most ``N``).
        k_neighbors: neighbours in the typicality.
        min_cluster_size: smaller clusters are used last.

    Returns:
        picked rows of the unlabelled block (``0 .. N-1``) and their typicality (among the
        unlabelled members of their cluster at the time of the pick).
    """
    free = labels.copy()
    free[:n_labelled] = -1
    picks: list[int] = []
    scores: list[float] = []
    for group in typiclust_order(labels, n_labelled, min_cluster_size):
        while len(picks) < n and any((free == c).any() for c in group):
            for c in group:
                members = np.flatnonzero(free == c)
                if len(picks) == n or len(members) == 0:
                    continue
                typ = typicality(x[members], k_neighbors)
                best = int(np.argmax(np.nan_to_num(typ, nan=0.0)))
                picks.append(int(members[best]))
                scores.append(float(typ[best]))
                free[members[best]] = -1
    return np.asarray(picks, dtype=np.int64) - n_labelled, np.asarray(scores, dtype=np.float64)


def average_linkage(x: np.ndarray, n_clusters: int, n_neighbors: int) -> np.ndarray:
    """Average-linkage agglomerative cluster labels, merges restricted to a k-NN graph.

    The graph keeps memory at ``O(N·n_neighbors)`` instead of the ``N²/2`` distances of
    unrestricted HAC; scikit-learn joins disconnected parts of the graph itself.
    """
    k = min(n_clusters, len(x))
    if k <= 1:
        return np.zeros(len(x), dtype=np.int64)
    graph = kneighbors_graph(x, n_neighbors=min(n_neighbors, len(x) - 1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*connected components.*")
        model = AgglomerativeClustering(n_clusters=k, linkage="average", connectivity=graph)
        return model.fit_predict(x).astype(np.int64)


def round_robin(cluster: np.ndarray, n: int, generator: torch.Generator) -> np.ndarray:
    """Positions into ``cluster``: one random member of each cluster in turn, smallest cluster first.

    No cluster gives a second item while another still has an unpicked one (Citovsky et al. 2021).
    Equal sizes go in cluster-id order; members are drawn in a random order from ``generator``.
    """
    if n > len(cluster):
        raise ValueError(f"cannot pick {n} of {len(cluster)} items")
    ids, sizes = np.unique(cluster, return_counts=True)
    perm = torch.randperm(len(cluster), generator=generator).numpy()
    members = [perm[cluster[perm] == c] for c in ids[np.argsort(sizes, kind="stable")]]
    picks: list[int] = []
    for depth in range(int(sizes.max(initial=0))):
        picks += [int(m[depth]) for m in members if depth < len(m)]
    return np.asarray(picks[:n], dtype=np.int64)
