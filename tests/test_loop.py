"""The loop on tiny experiments: schedule, records, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from alrun.active.loop import Plan
from alrun.run.records import RESULT_COLUMNS

METRICS = list(RESULT_COLUMNS)


def same_metrics(a: list[dict], b: list[dict]) -> bool:
    """Bit-identical metric columns (NaN equals NaN; timings ignored)."""
    return pd.DataFrame(a)[METRICS].equals(pd.DataFrame(b)[METRICS])


def test_plan_spends_budget_exactly():
    assert Plan(10, 4, 5).query_sizes() == [4, 4, 2]
    assert Plan(8, 4, 5).query_sizes() == [4, 4]
    assert Plan(0, 4, 5).query_sizes() == []


def test_rows_are_rounds_plus_one_and_budget_is_spent(run_cfg, tmp_path):
    rows = run_cfg("budget=10", "query_size=4", "initial_size=6")
    assert [r["round"] for r in rows] == [0, 1, 2, 3]
    assert [r["n_labelled"] for r in rows] == [6, 10, 14, 16]
    queries = pd.read_csv(tmp_path / "run" / "queries.csv")
    assert queries.groupby("round").size().tolist() == [6, 4, 4, 2]
    assert queries["pool_index"].is_unique and queries["dataset_index"].is_unique
    assert (queries.loc[queries["round"] > 0, "rank"].groupby(queries["round"]).min() == 1).all()


def test_run_json_records_status_and_provenance(run_cfg, tmp_path):
    import json

    run_cfg()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "finished" and info["seed"] == 0 and info["device"] == "cpu"
    assert {"alrun", "torch", "lightning"} <= set(info["versions"]) and len(info["config_hash"]) == 16
    import torch

    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # e.g. AVX512, AVX2


def test_same_seed_gives_bit_identical_metrics(run_cfg):
    a = run_cfg("seed=3", folder="a")
    b = run_cfg("seed=3", folder="b")
    assert same_metrics(a, b)


def test_same_seed_and_two_threads_give_bit_identical_metrics_beside_a_cpu_hog(run_cfg, cpu_hog):
    import torch

    torch.set_num_threads(2)  # the autouse fixture puts one thread back afterwards
    a = run_cfg("seed=3", folder="a")
    b = run_cfg("seed=3", folder="b")
    assert same_metrics(a, b)


def test_different_seeds_differ(run_cfg):
    a = run_cfg("seed=1", folder="a")
    b = run_cfg("seed=2", folder="b")
    assert [r["test/acc"] for r in a] != [r["test/acc"] for r in b]


def test_strategies_share_initial_set_and_first_round(run_cfg, tmp_path):
    a = run_cfg("strategy=random", folder="a")
    b = run_cfg("strategy=entropy", folder="b")
    qa = pd.read_csv(tmp_path / "a" / "queries.csv")
    qb = pd.read_csv(tmp_path / "b" / "queries.csv")
    assert qa[qa["round"] == 0]["pool_index"].tolist() == qb[qb["round"] == 0]["pool_index"].tolist()
    # same initial weights and training noise: round 0's model is identical (its query is not)
    model_columns = [c for c in METRICS if not c.startswith("query/")]
    assert pd.DataFrame(a[:1])[model_columns].equals(pd.DataFrame(b[:1])[model_columns])


@pytest.mark.parametrize("reset", ["snapshot", "scratch", "warm"])
def test_every_reset_mode_runs(run_cfg, reset):
    rows = run_cfg(f"reset={reset}")
    assert len(rows) == 4 and all(0 <= r["test/acc"] <= 1 for r in rows)


def test_validation_labels_are_used(run_cfg, tmp_path):
    rows = run_cfg("val_size=20")
    assert all(r["n_val_labelled"] == 20 for r in rows)
    assert all(0 <= r["val/acc"] <= 1 for r in rows)
    q = pd.read_csv(tmp_path / "run" / "queries.csv")
    val = q[q["pool"] == "val"]
    train = q[q["pool"] == "train"]
    assert len(val) == 20 and set(val["dataset_index"]).isdisjoint(train["dataset_index"])


def test_fit_paths_give_identical_results(run_cfg):
    """The fast path (alrun's own loop) equals Lightning's one training_step per mini-batch."""
    a = run_cfg("fit_mode=lightning", "val_size=8", folder="a")
    b = run_cfg("fit_mode=fast", "val_size=8", folder="b")
    assert same_metrics(a, b)


@pytest.mark.parametrize("val_size", [1340, 5000])
def test_too_large_val_size_is_a_config_error(run_cfg, val_size):
    from alrun.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"val_size={val_size} leaves .* \(allowed: val_size <= 1327\)"):
        run_cfg(f"val_size={val_size}")


@pytest.mark.parametrize(
    ("strategy", "subsample"), [("coreset", "null"), ("margin", "null"), ("margin", "500")]
)
def test_n_scored_counts_the_scored_candidates(run_cfg, strategy, subsample):
    rows = run_cfg(f"strategy={strategy}", f"pool_subsample={subsample}")
    unlabelled = [1347 - r["n_labelled"] for r in rows[:-1]]
    expected = unlabelled if subsample == "null" else [500] * len(unlabelled)
    assert [r["query/n_scored"] for r in rows[:-1]] == expected


def test_threads_setting_is_applied_and_given_back(make_cfg, tmp_path, monkeypatch):
    import torch

    from alrun.run.experiment import run_experiment

    seen = []
    monkeypatch.setattr(
        "alrun.active.loop.fit", lambda strategy, trainer: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    run_experiment(make_cfg("threads=2", "budget=0"), tmp_path / "t")
    assert seen == [2] and torch.get_num_threads() == before


def test_val_size_leaving_fewer_items_than_classes_still_splits(run_cfg):
    rows = run_cfg("val_size=1330", "initial_size=5", "budget=4", "query_size=4")
    assert [r["n_val_labelled"] for r in rows] == [1330, 1330]
