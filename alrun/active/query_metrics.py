"""Per-round facts about a query, computed from its :class:`~alrun.active.pool.QueryRecord` for any strategy.

* ``query/n_scored``: candidates the strategy scored (the unlabelled pool, or ``pool_subsample`` of it);
* ``query/score_mean``: mean score of the queried batch (the scores in ``queries.csv``);
* ``query/pool_score_mean``: mean score over every scored candidate;
* ``query/pairwise_dist``: mean pairwise Euclidean distance between the queried inputs (flattened),
  a measure of the batch's redundancy (near-duplicates pull it down).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from alrun.active.pool import ActivePool, QueryRecord


def _mean(values: np.ndarray | None) -> float:
    if values is None or len(values) == 0 or np.isnan(values).all():
        return math.nan
    return float(np.nanmean(values))


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over the pairs of rows of ``x`` (flattened, float64); NaN under 2 rows."""
    if len(x) < 2:
        return math.nan
    return torch.pdist(x.detach().flatten(1).double().cpu()).mean().item()


def query_metrics(pool: ActivePool, record: QueryRecord) -> dict[str, float | int | None]:
    """The ``query/*`` columns of ``metrics.csv`` for one query of ``pool``."""
    pool_score = record.pool_score
    return {
        "query/n_scored": record.n_scored,
        "query/score_mean": _mean(record.score),
        "query/pool_score_mean": _mean(pool_score),
        "query/pairwise_dist": mean_pairwise_distance(pool.gather(record.pool_index).x),
    }
