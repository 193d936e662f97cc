"""The Strategy module: deeplay's API, reset modes, no global RNG."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from alrun.active.strategy import Strategy
from alrun.run.experiment import build_strategy
from alrun.seeding import Streams

SEED_API = [
    "query",
    "query_and_update",
    "query_strategy",
    "query_train",
    "query_val",
    "reset_model",
    "train_dataloader",
    "test_dataloader",
    "validation_step",
    "test_step",
    "on_train_start",
]


@pytest.fixture
def strategy(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg("val_size=10")
    return build_strategy(cfg, instantiate(cfg.dataset), Streams(cfg.seed)), cfg


def fit(strategy: Strategy, epochs: int = 2) -> None:
    import lightning.pytorch as pl

    pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    ).fit(strategy)


def test_seed_api_is_complete_and_documented():
    for name in SEED_API:
        method = getattr(Strategy, name)
        assert inspect.getdoc(method), f"{name} has no docstring"
    assert list(inspect.signature(Strategy.query_strategy).parameters) == ["self", "pool", "n"]


def test_query_and_update_labels_for_next_round(strategy):
    s, _ = strategy
    s.label_initial(10, "random", 10)
    fit(s)
    before = set(s.train_pool.labelled().tolist())
    rec = s.query_and_update(5)
    assert s.round == 1 and rec.round == 1 and len(rec.pool_index) == 5
    assert before.isdisjoint(rec.pool_index.tolist())
    assert s.train_pool.labelled_in(1).tolist() == sorted(rec.pool_index.tolist())
    assert np.all(np.diff(rec.score) <= 0)  # best first


def test_query_val_draws_from_validation_pool_only(strategy):
    s, _ = strategy
    recs = s.label_initial(10, "random", 10)
    assert [r.pool for r in recs] == ["train", "val"]
    assert s.val_pool.n_labelled == 10 and s.train_pool.n_labelled == 10
    with pytest.raises(ValueError, match="no validation pool"):
        Strategy.query_val(type("S", (), {"val_pool": None})(), 1)  # type: ignore[arg-type]


def test_snapshot_reset_restores_first_fit_weights(strategy):
    s, _ = strategy
    s.label_initial(10, "random", 0)
    initial = {k: v.clone() for k, v in s.net.state_dict().items()}
    fit(s)
    assert any(not torch.equal(initial[k], v) for k, v in s.net.state_dict().items())
    s.query_and_update(4)
    fit(s)  # a second fit must not move the snapshot (deeplay's bug)
    s.reset_model()
    assert all(torch.equal(initial[k], v) for k, v in s.net.state_dict().items())


def test_scratch_reset_draws_new_seeded_weights(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg("reset=scratch")
    a = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    b = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    w0 = a.net.head.weight.clone()
    for s in (a, b):
        s.round = 1
        s.reset_model()
    assert not torch.equal(w0, a.net.head.weight) and torch.equal(a.net.head.weight, b.net.head.weight)


def test_warm_reset_keeps_weights(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg("reset=warm")
    s = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    s.label_initial(10, "random", 0)
    fit(s)
    w = s.net.head.weight.clone()
    s.reset_model()
    assert torch.equal(w, s.net.head.weight)


def test_global_rng_is_untouched(strategy):
    s, _ = strategy
    torch.manual_seed(1234)
    np.random.seed(1234)
    expected_t, expected_n = torch.rand(3), np.random.rand(3)
    torch.manual_seed(1234)
    np.random.seed(1234)
    s.label_initial(10, "balanced", 10)
    fit(s)
    s.evaluate()
    s.query_and_update(5)
    s.reset_model()
    assert torch.equal(torch.rand(3), expected_t) and np.array_equal(np.random.rand(3), expected_n)


def test_trainer_test_agrees_with_fast_evaluation(strategy):
    import lightning.pytorch as pl

    s, _ = strategy
    s.label_initial(10, "random", 10)
    fit(s)
    fast = s.evaluate()
    out = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    ).test(s, verbose=False)[0]
    assert out["test/acc"] == pytest.approx(fast["test/acc"], abs=1e-6)
    assert out["test/loss"] == pytest.approx(fast["test/loss"], rel=1e-5)


def test_entropy_strategy_queries_uncertain_items(make_cfg):
    """deeplay's sign bug: entropy must pick the least confident items, not the most."""
    from hydra.utils import instantiate

    cfg = make_cfg("strategy=entropy")
    s = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    s.label_initial(50, "random", 0)
    fit(s, epochs=20)
    rec = s.query_and_update(20)
    from alrun.strategies import scores

    x = s.train_pool.data.x
    with torch.inference_mode():
        h = scores.entropy(s.net.eval()(x).double().log_softmax(-1))
    unl = np.setdiff1d(s.train_pool.unlabelled(), [])
    assert h[rec.pool_index].min() >= h[unl].max() - 1e-12


def test_global_rng_is_restored_when_a_fit_fails(make_cfg):
    from hydra.utils import instantiate

    from alrun.errors import RunFailed

    cfg = make_cfg("optimizer=sgd", "optimizer.lr=1e30")
    s = build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
    s.label_initial(10, "random", 0)
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    with pytest.raises(RunFailed):
        fit(s, epochs=5)
    assert torch.equal(torch.rand(3), expected)
