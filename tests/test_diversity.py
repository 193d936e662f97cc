"""Embedding strategies on hand-made 2-D point sets: core-set, BADGE, k-means, TypiClust, ProbCover,
cluster-margin, and the embeddings they ask the query context for."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from alrun.models.nets import Classifier
from alrun.seeding import Streams
from alrun.strategies import (
    Badge,
    ClusterMargin,
    Coreset,
    KMeansSampling,
    ProbCover,
    QueryContext,
    TypiClust,
    greedy,
)
from alrun.strategies import embeddings as emb
from alrun.strategies.clusters import round_robin, typicality
from alrun.strategies.cover import prob_cover

CORNERS = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])


def blobs(per_blob: int = 8, scale: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Four tight, well-separated blobs at the corners of a 10 x 10 square, and each point's blob."""
    gen = torch.Generator().manual_seed(seed)
    blob = torch.arange(len(CORNERS)).repeat_interleave(per_blob)
    return CORNERS[blob] + scale * torch.rand(len(blob), 2, generator=gen), blob.numpy()


def identity_net(head_weight: torch.Tensor | None = None) -> Classifier:
    """A classifier whose features are its 2-D inputs; the head is 2 -> 3 linear (zero by default)."""
    net = Classifier()
    net.body, net.head = nn.Identity(), nn.Linear(2, 3)
    with torch.no_grad():
        net.head.weight.copy_(torch.zeros(3, 2) if head_weight is None else head_weight)
        net.head.bias.zero_()
    return net.eval()


def context(x: torch.Tensor, labelled: torch.Tensor | None = None, seed: int = 0, **kw) -> QueryContext:
    streams = Streams(seed)
    return QueryContext(
        x=x,
        net=kw.get("net", identity_net()),
        chunk_size=5,  # several chunks even for tiny sets
        tiebreak=streams.torch("tiebreak", 1),
        acquisition=streams.torch("acquisition", 1),
        labelled_x=torch.empty(0, 2) if labelled is None else labelled,
    )


STRATEGIES = {
    "coreset": Coreset,
    "badge": Badge,
    "kmeans": KMeansSampling,
    "typiclust": TypiClust,
    "probcover": lambda: ProbCover(delta=1.0, normalize=False),
    "cluster_margin": lambda: ClusterMargin(n_clusters=4, n_neighbors=5),
}
HEAD = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]) * 0.3


# ---- embeddings ------------------------------------------------------------------------------
def test_embeddings_are_the_body_features_probabilities_and_gradient_outer_products():
    x, _ = blobs()
    ctx = context(x, labelled=x[:3] + 1.0, net=identity_net(HEAD))
    h = emb.features(ctx)
    assert torch.equal(h, x) and torch.equal(emb.labelled_features(ctx), x[:3] + 1.0)
    p = torch.softmax((x @ HEAD.T).double(), dim=1)
    assert torch.allclose(emb.probabilities(ctx), p, atol=1e-12)
    r, _ = emb.gradient_factors(ctx)
    onehot = torch.nn.functional.one_hot(p.argmax(1), 3).double()
    assert torch.allclose(r.double(), p - onehot, atol=1e-6)
    g = emb.gradient_embeddings(ctx)
    assert g.shape == (len(x), 3 * 2)
    assert torch.allclose(g[7], torch.outer(r[7], x[7]).flatten())
    # one pass gives the features and the same log-probabilities as QueryContext's own path
    assert torch.equal(ctx.log_probs(), context(x, net=identity_net(HEAD)).log_probs())


def test_factored_gradient_distances_equal_explicit_ones():
    gen = torch.Generator().manual_seed(1)
    r, h = torch.randn(30, 4, generator=gen), torch.randn(30, 6, generator=gen)
    g = emb.outer_rows(r, h)
    explicit = torch.cdist(g, g[11:12]).square().flatten()
    assert torch.allclose(greedy.outer_sq_dist_to(r, h)(11), explicit, atol=1e-3)


# ---- core-set -------------------------------------------------------------------------------
def test_coreset_picks_the_farthest_point_from_the_labelled_set_each_step():
    x = torch.tensor([[1.0, 0.0], [2.5, 0.0], [4.0, 0.0], [10.0, 0.0]])
    sel = Coreset().select(context(x, labelled=torch.zeros(1, 2)), 4)
    assert sel.index.tolist() == [3, 2, 1, 0]
    assert np.allclose(sel.score.numpy(), [10.0, 4.0, 1.5, 1.0], atol=1e-5)


def test_coreset_matches_a_brute_force_k_center_greedy():
    gen = torch.Generator().manual_seed(2)
    x, lab = torch.randn(60, 2, generator=gen), torch.randn(5, 2, generator=gen)
    rows, dist = greedy.k_center_greedy(x, lab, 10)
    centers = lab
    for row, d in zip(rows.tolist(), dist.tolist(), strict=True):
        min_d = torch.cdist(x, centers).min(dim=1).values
        assert row == int(min_d.argmax()) and d == pytest.approx(float(min_d.max()), abs=1e-4)
        centers = torch.cat([centers, x[row : row + 1]])


# ---- BADGE ----------------------------------------------------------------------------------
def test_badge_first_pick_has_the_largest_gradient_norm_and_later_picks_are_spread():
    x, blob = blobs()
    ctx = context(x, net=identity_net(HEAD))
    sel = Badge().select(ctx, 4)
    norms = emb.gradient_embeddings(ctx).norm(dim=1)
    assert int(sel.index[0]) == int(norms.argmax())
    assert sel.score[0] == pytest.approx(float(norms.max()), rel=1e-5)
    r = torch.ones(len(x), 3)  # same residual everywhere: the spread comes from the features alone
    rows, _ = greedy.badge_seeding(r, x, 4, torch.Generator().manual_seed(0))
    assert sorted(blob[rows.numpy()]) == [0, 1, 2, 3]


def test_badge_with_all_zero_gradients_draws_distinct_items():
    rows, _ = greedy.badge_seeding(torch.zeros(10, 3), torch.ones(10, 2), 10, torch.Generator())
    assert sorted(rows.tolist()) == list(range(10))


# ---- k-means and TypiClust ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["kmeans", "typiclust"])
def test_one_pick_per_blob(name):
    x, blob = blobs()
    sel = STRATEGIES[name]().select(context(x), 4)
    assert sorted(blob[sel.index.numpy()]) == [0, 1, 2, 3]


def test_typiclust_skips_the_blob_that_has_a_label_and_picks_the_most_typical_point():
    x, blob = blobs()
    outlier = torch.tensor([[10.0, 1.5]])  # joins blob 1 but is far from its mates
    sel = TypiClust().select(context(torch.cat([x, outlier]), labelled=CORNERS[:1] + 0.1), 3)
    picks = sel.index.numpy()
    assert sorted(np.r_[blob, 1][picks]) == [1, 2, 3] and len(x) not in picks
    assert np.isfinite(sel.score.numpy()).all()


def test_typicality_is_the_inverse_mean_distance_to_the_k_nearest_neighbours():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])  # K = min(20, 4 // 2) = 2
    assert np.allclose(typicality(x, 20), [1 / 2, 1 / 1.5, 1 / 2.5, 1 / 5])
    assert np.allclose(typicality(x, 1), [1 / 1, 1 / 1, 1 / 2, 1 / 4])


def test_kmeans_score_is_the_size_of_the_cluster_a_pick_stands_for():
    x, _ = blobs()
    x = torch.cat([x, CORNERS[:1] + 0.05])  # blob 0 has one more point
    sel = KMeansSampling().select(context(x), 4)
    assert sel.score.tolist() == [9.0, 8.0, 8.0, 8.0]


# ---- ProbCover ------------------------------------------------------------------------------
def test_probcover_covers_every_blob_with_one_pick_each():
    x, blob = blobs()
    rows, gains = prob_cover(np.empty((0, 2)), x.numpy(), 1.0, 6, torch.Generator())
    assert sorted(blob[rows[:4]]) == [0, 1, 2, 3] and gains[:4].tolist() == [8.0] * 4
    assert gains[4:].tolist() == [0.0, 0.0] and len(set(rows.tolist())) == 6  # all covered: uniform


def test_probcover_leaves_blobs_covered_by_labels_alone():
    x, blob = blobs()
    sel = STRATEGIES["probcover"]().select(context(x, labelled=CORNERS[:2] + 0.1), 2)
    assert sorted(blob[sel.index.numpy()]) == [2, 3] and sel.score.tolist() == [8.0, 8.0]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("strategy=probcover strategy.delta=0", "strategy.delta=0 is out of range (allowed: numbers > 0)"),
        (
            "strategy=typiclust strategy.k_neighbors=0",
            "strategy.k_neighbors=0 is out of range (allowed: integers >= 1)",
        ),
        (
            "strategy=cluster_margin strategy.n_clusters=x",
            "strategy.n_clusters='x' is not an integer (allowed: integers)",
        ),
    ],
)
def test_bad_strategy_parameter_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, override, message):
    from alrun import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # no traceback wanted; restored afterwards (main sets it)
    monkeypatch.setattr(sys, "argv", ["alrun", "experiment=smoke", *override.split()])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and lines[0].startswith(f"alrun: error: {message}")


# ---- cluster-margin ---------------------------------------------------------------------------
def test_round_robin_never_repeats_a_cluster_while_another_is_unused():
    cluster = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3])
    picks = round_robin(cluster, len(cluster), torch.Generator().manual_seed(0))
    assert sorted(picks.tolist()) == list(range(len(cluster)))
    seen = cluster[picks]
    assert seen[:4].tolist() == [0, 1, 2, 3]  # smallest cluster first
    for k in range(1, len(seen) + 1):  # in every prefix, counts differ by at most 1 among open clusters
        counts = np.bincount(seen[:k], minlength=4)
        sizes = np.bincount(cluster)
        open_ = counts < sizes
        assert not open_.any() or counts.max() <= counts[open_].min() + 1


def test_cluster_margin_spreads_the_lowest_margins_over_the_blobs():
    x, blob = blobs()
    sel = STRATEGIES["cluster_margin"]().select(context(x), 4)  # zero head: every margin ties
    assert sorted(blob[sel.index.numpy()]) == [0, 1, 2, 3]
    assert sel.score.tolist() == [0.0] * 4


def test_cluster_margin_picks_only_among_the_lowest_margins():
    x, blob = blobs()
    head = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]) * 0.3  # blobs 0 and 3 sit on a class tie
    p = torch.softmax((x @ head.T).double(), dim=1).topk(2, dim=1).values
    margin = p[:, 0] - p[:, 1]
    order = margin.argsort()
    lowest = set(order[:8].tolist())  # margin_multiple · n = 2 · 4 = 8 of a pool of 32
    assert margin[order[7]] < margin[order[8]] and set(blob[list(lowest)]) == {0, 3}
    for seed in range(4):
        ctx = context(x, seed=seed, net=identity_net(head))
        sel = ClusterMargin(margin_multiple=2, n_clusters=4, n_neighbors=5).select(ctx, 4)
        assert set(sel.index.tolist()) <= lowest
        assert sorted(blob[sel.index.numpy()]) == [0, 0, 3, 3]  # round-robin over the two low clusters
        assert torch.allclose(sel.score, -margin[sel.index])
    # without the filter (8 · 4 >= 32) the same pool spreads over all four clusters
    sel = ClusterMargin(margin_multiple=8, n_clusters=4, n_neighbors=5).select(
        context(x, net=identity_net(head)), 4
    )
    assert sorted(blob[sel.index.numpy()]) == [0, 1, 2, 3]


# ---- every strategy -------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_batch_is_distinct_candidates_and_the_whole_pool_can_be_taken(name):
    x, _ = blobs(per_blob=5)
    lab = CORNERS[:2] + 0.05
    for n in (0, 7, len(x)):
        sel = STRATEGIES[name]().select(context(x, labelled=lab, net=identity_net(HEAD)), n)
        idx = sel.index.tolist()
        assert len(idx) == n == len(set(idx)) == len(sel.score) and all(0 <= i < len(x) for i in idx)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_same_seed_same_batch(name):
    x, _ = blobs(per_blob=6, scale=3.0)  # overlapping blobs: choices are not forced
    picks = [
        STRATEGIES[name]().select(context(x, labelled=x[:2] + 0.5, seed=s, net=identity_net(HEAD)), 6)
        for s in (3, 3)
    ]
    assert torch.equal(picks[0].index, picks[1].index)
    assert torch.equal(picks[0].score.nan_to_num(-1.0), picks[1].score.nan_to_num(-1.0))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_runs_end_to_end_on_the_smoke_experiment(run_cfg, tmp_path, name):
    import pandas as pd

    rows = run_cfg(f"strategy={name}")  # pools refuse relabelling and duplicates
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20]
    queries = pd.read_csv(tmp_path / "run" / "queries.csv")
    assert queries["pool_index"].is_unique and len(queries) == 20
