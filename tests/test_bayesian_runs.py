"""The MC-dropout and stochastic strategies end to end, pool subsampling, and the query columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from alrun.active.pool import ActivePool, QueryRecord
from alrun.active.query_metrics import query_metrics
from alrun.config.checks import validate
from alrun.data.tensors import TensorData
from alrun.errors import ConfigError
from alrun.run.experiment import build_strategy
from alrun.seeding import Streams
from alrun.strategies import scores
from alrun.strategies.select import subsample

NEW = [
    "bald",
    "mc_entropy",
    "var_ratio",
    "mean_std",
    "batchbald",
    "power_bald",
    "power_entropy",
    "power_margin",
    "softmax_bald",
    "softrank_bald",
    "vote_entropy",
    "kl_to_mean",
    "epig",
    "dfal",
]
QUERY = ["query/n_scored", "query/score_mean", "query/pool_score_mean", "query/pairwise_dist"]


@pytest.mark.parametrize("strategy", NEW)
def test_new_strategy_runs_end_to_end(run_cfg, tmp_path, strategy):
    rows = run_cfg(f"strategy={strategy}", "model.dropout=0.5")
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20]
    queried = pd.read_csv(tmp_path / "run" / "queries.csv").query("round > 0")
    assert queried["pool_index"].is_unique and len(queried) == 10 and queried["score"].notna().all()
    frame = pd.DataFrame(rows)
    assert frame[QUERY].iloc[:-1].notna().all().all() and frame[QUERY].iloc[-1].isna().all()
    assert frame["query/n_scored"].iloc[:-1].tolist() == [1337, 1333, 1329]  # 1,347 - 10 labelled - 4/round


@pytest.mark.parametrize("strategy", ["bald", "power_bald", "batchbald"])
def test_strategy_without_model_dropout_stops_before_training(make_cfg, strategy):
    from hydra.utils import instantiate

    cfg = make_cfg(f"strategy={strategy}")
    with pytest.raises(ConfigError, match=rf"^strategy {strategy} needs MC dropout.*model\.dropout=0\.5$"):
        build_strategy(cfg, instantiate(cfg.dataset), Streams(0))


BAD = [
    (
        ["strategy=power_bald"],
        "strategy power_bald needs MC dropout, but the model (MLP) has no dropout layer",
    ),
    (
        ["strategy=bald", "strategy.mc_samples=0"],
        "strategy.mc_samples=0 is out of range (allowed: integers >= 1)",
    ),
    (
        ["strategy=power_bald", "strategy.kind=powr"],
        "strategy.kind='powr' is not allowed (choose from: power,",
    ),
    (
        ["strategy=batchbald", "strategy.max_configs=0"],
        "strategy.max_configs=0 is out of range (allowed: integers >= 1)",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_strategy_settings_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    """The CLI's own entry point, in-process (the heavy imports are paid already)."""
    from hydra.core.global_hydra import GlobalHydra

    from alrun.cli import main

    GlobalHydra.instance().clear()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "HYDRA_FULL_ERROR", "0"
    )  # no traceback wanted; main() sets it to 1, monkeypatch undoes that
    monkeypatch.setattr("sys.argv", ["alrun", "experiment=smoke", *args, "hydra.run.dir=run"])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"alrun: error: {message}"), err
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_subsample_is_seeded_sorted_and_off_by_default():
    a = subsample(100, 10, torch.Generator().manual_seed(1))
    assert a is not None and len(a) == 10 and torch.equal(a, a.sort().values) and len(a.unique()) == 10
    assert torch.equal(a, subsample(100, 10, torch.Generator().manual_seed(1)))  # type: ignore[arg-type]
    assert subsample(100, None, torch.Generator()) is None and subsample(100, 0, torch.Generator()) is None
    assert subsample(100, 100, torch.Generator()) is None


def test_pool_subsample_scores_only_the_subsample(make_cfg):
    """The query is the top entropy among the seeded K candidates, mapped back to pool indices."""
    from hydra.utils import instantiate

    from tests.test_strategy import fit

    cfg = make_cfg("strategy=entropy", "pool_subsample=30")
    s = build_strategy(cfg, instantiate(cfg.dataset), Streams(cfg.seed))
    s.label_initial(10, "random", 0)
    fit(s, epochs=3)
    candidates = s.train_pool.unlabelled()
    scored = subsample(len(candidates), 30, Streams(cfg.seed).torch("subsample", 0))
    assert scored is not None
    with torch.inference_mode():
        h = scores.entropy(
            s.net.eval()(s.train_pool.data.x[candidates[scored.numpy()]]).double().log_softmax(-1)
        )
    record = s.query_and_update(4)
    expected = candidates[scored.numpy()][np.argsort(-h.numpy(), kind="stable")[:4]]
    assert sorted(record.pool_index.tolist()) == sorted(expected.tolist())
    assert record.pool_score is not None and len(record.pool_score) == 30


def test_pool_subsample_is_recorded_as_n_scored(run_cfg):
    rows = run_cfg("pool_subsample=50")
    assert [r["query/n_scored"] for r in rows[:-1]] == [50, 50, 50]


@pytest.mark.parametrize(
    ("value", "ok"), [(None, True), (0, True), (4, True), (3, False), (True, False), ("x", False)]
)
def test_pool_subsample_values(make_cfg, value, ok):
    cfg = make_cfg(f"pool_subsample={'null' if value is None else value}")
    if ok:
        validate(cfg)
    else:
        with pytest.raises(
            ConfigError, match=r"pool_subsample=.* is not allowed .*integers >= query_size \(4\)"
        ):
            validate(cfg)


def test_query_metrics_match_hand_computed_values():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [1.0, 1.0]])
    pool = ActivePool(TensorData(x, torch.zeros(4, dtype=torch.long), torch.arange(4)))
    record = QueryRecord(
        "train",
        1,
        np.array([0, 1, 2]),
        np.array([0, 1, 2]),
        np.array([0.9, 0.6, 0.3]),
        np.array([0.9, 0.6, 0.3, 0.2]),
        n_scored=4,
    )
    row = query_metrics(pool, record)
    assert row["query/n_scored"] == 4
    assert row["query/score_mean"] == pytest.approx(0.6) and row["query/pool_score_mean"] == pytest.approx(
        0.5
    )
    assert row["query/pairwise_dist"] == pytest.approx((5 + 10 + 5) / 3)  # distances 5, 10, 5
    single = QueryRecord("train", 1, np.array([3]), np.array([3]), np.array([0.2]), None)
    one = query_metrics(pool, single)
    assert math.isnan(one["query/pairwise_dist"]) and one["query/n_scored"] is None  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["batchbald", "power_bald"])
def test_same_seed_gives_identical_queries_and_metrics(run_cfg, tmp_path, strategy):
    """MC masks, sampled configurations and Gumbel noise all come from the run's streams."""
    extra = ["strategy.max_configs=10", "strategy.config_samples=100"] if strategy == "batchbald" else []
    a = run_cfg(f"strategy={strategy}", "model.dropout=0.5", *extra, "seed=5", folder="a")
    b = run_cfg(f"strategy={strategy}", "model.dropout=0.5", *extra, "seed=5", folder="b")
    columns = ["n_labelled", "test/acc", "test/loss", "train/loss", *QUERY]
    assert pd.DataFrame(a)[columns].equals(pd.DataFrame(b)[columns])
    assert pd.read_csv(tmp_path / "a" / "queries.csv").equals(pd.read_csv(tmp_path / "b" / "queries.csv"))
