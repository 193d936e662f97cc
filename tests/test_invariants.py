"""Run-time invariants: they hold over random small configs, and a violation fails loudly."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alrun.active.invariants import check_finished, check_round, check_separation
from alrun.active.pool import QueryRecord
from alrun.errors import InvariantError, RunFailed

COUNTER = itertools.count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.integers(1, 12),
    budget=st.integers(0, 15),
    query=st.integers(1, 7),
    val=st.integers(0, 12),
    mode=st.sampled_from(["random", "balanced"]),
    strategy=st.sampled_from(["random", "margin", "entropy", "least_confidence"]),
)
def test_invariants_hold_over_random_small_configs(run_cfg, initial, budget, query, val, mode, strategy):
    rows = run_cfg(
        f"initial_size={initial}",
        f"budget={budget}",
        f"query_size={query}",
        f"val_size={val}",
        f"initial={mode}",
        f"strategy={strategy}",
        "trainer.max_epochs=1",
        folder=f"run-{next(COUNTER)}",
    )
    sizes = [query] * (budget // query) + ([budget % query] if budget % query else [])
    assert [r["n_labelled"] for r in rows] == list(np.cumsum([initial, *sizes]))
    assert all(r["n_val_labelled"] == val for r in rows)


@pytest.fixture
def trained(make_cfg):
    from hydra.utils import instantiate

    from alrun.run.experiment import build_strategy
    from alrun.seeding import Streams

    cfg = make_cfg("val_size=5")
    s = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    s.label_initial(10, "random", 5)
    return s


def test_check_round_catches_a_mismatched_record(trained):
    rec = trained.query_and_update(4)
    check_round(trained, [4], [rec])
    wrong = QueryRecord("train", 1, rec.pool_index[:3], rec.dataset_index[:3], rec.score[:3])
    with pytest.raises(InvariantError, match=r"queries\.csv rows differ"):
        check_round(trained, [4], [wrong])
    with pytest.raises(InvariantError, match="planned 5"):
        check_round(trained, [5], [rec])


def test_check_separation_catches_a_test_item_in_training(trained):
    check_separation(trained)
    test_index = int(trained.test_data.index[0])
    trained.train_pool.dataset_index[trained.train_pool.labelled()[0]] = test_index
    with pytest.raises(InvariantError, match="test item"):
        check_separation(trained)


def test_check_finished_catches_an_unspent_budget(trained):
    check_finished(trained, 10, 0)
    with pytest.raises(InvariantError, match="planned 12"):
        check_finished(trained, 10, 2)


def test_nan_loss_marks_the_run_failed_in_process(run_cfg, tmp_path):
    import json

    with pytest.raises(RunFailed, match="training loss is"):
        run_cfg("optimizer=sgd", "optimizer.lr=1e30", "trainer.max_epochs=3")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert pd.read_csv(tmp_path / "run" / "metrics.csv").columns[0] == "round"
