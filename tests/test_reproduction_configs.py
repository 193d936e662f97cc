"""The paper experiments compose to the settings their headers cite (docs/reproductions.md), and their
models build with the parameter names the settings refer to."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import CONFIG_DIR
from omegaconf import OmegaConf

from alrun.config.instantiation import locate
from alrun.training.decay import param_groups, parse_groups

PROTOCOL = ("balanced", 20, 10, 1000, "scratch")  # Gal's: initial, initial_size, query_size, labels, reset


def protocol(cfg) -> tuple:
    return cfg.initial, cfg.initial_size, cfg.query_size, cfg.initial_size + cfg.budget, cfg.reset


def net(cfg) -> torch.nn.Module:
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if not k.startswith("_")}
    return locate(cfg.model._target_, "model")((1, 28, 28), 10, **kwargs)


def test_gal2017_mnist_is_gals_protocol_with_the_batchbald_training_loop(make_cfg):
    cfg = make_cfg("experiment=gal2017_mnist", smoke=False)
    assert protocol(cfg) == PROTOCOL and cfg.pool_subsample == 2000 and cfg.dataset.scaling == "normalize"
    assert (cfg.model.kernel, cfg.model.pool, cfg.model.hidden) == (3, 2, 128)
    assert (cfg.model.dropout_conv, cfg.model.dropout_dense) == (0.25, 0.5)
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.batch_size) == (1e-3, 0.0, 64)
    assert (cfg.epoch_samples, cfg.trainer.max_epochs, cfg.val_size, cfg.eval_mc_samples) == (
        5056,
        30,
        1024,
        0,
    )
    stop, best = cfg.callbacks.early_stopping, cfg.callbacks.best_weights
    assert (stop.monitor, stop.mode, stop.patience) == ("val/acc", "max", 3)
    assert (best.monitor, best.mode) == ("val/acc", "max")
    text = (Path(CONFIG_DIR) / "experiment" / "gal2017_mnist.yaml").read_text()
    assert "override /strategy" not in text  # the strategy is the user's choice
    assert make_cfg("experiment=gal2017_mnist", "strategy=var_ratio", smoke=False).strategy.mc_samples == 20


def test_gal2017_mnist_keras_decays_the_dense_layer_by_7_over_n(make_cfg):
    cfg = make_cfg("experiment=gal2017_mnist_keras", smoke=False)
    assert protocol(cfg) == PROTOCOL and cfg.pool_subsample == 2000 and cfg.val_size == 0
    assert (cfg.batch_size, cfg.trainer.max_epochs, cfg.model.pool) == (128, 50, 5)
    assert not cfg.callbacks and cfg.epoch_samples is None
    model = net(cfg)
    dense = model.body[7]
    assert isinstance(dense, torch.nn.Linear) and dense.in_features == 32 * 4 * 4  # 24x24 pooled by 5
    _, decayed = param_groups(model, parse_groups(cfg.weight_decay_groups), 200)
    assert decayed["weight_decay"] == pytest.approx(7.0 / 200) and decayed["params"] == [dense.weight]


def test_batchbald_mnist_uses_batchbalds_cnn_loop_and_mc_test_accuracy(make_cfg):
    cfg = make_cfg("experiment=batchbald_mnist", "strategy=batchbald", smoke=False)
    assert (
        protocol(cfg)[:3] == PROTOCOL[:3]
        and cfg.pool_subsample is None
        and cfg.dataset.scaling == "normalize"
    )
    assert (cfg.epoch_samples, cfg.batch_size, cfg.val_size, cfg.eval_mc_samples) == (5056, 64, 1024, 20)
    assert cfg.strategy.consistent and cfg.strategy.mc_samples == 20
    model = net(cfg)
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    drops = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    assert [type(d).__name__ for d in drops] == ["Dropout2d", "Dropout2d", "Dropout"]
    assert {d.p for d in drops} == {0.5} and model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert [m.in_features for m in model.body if isinstance(m, torch.nn.Linear)] == [64 * 4 * 4]


@pytest.mark.parametrize("experiment", ["gal2017_mnist", "gal2017_mnist_keras", "batchbald_mnist"])
def test_paper_experiments_cite_their_source(experiment):
    head = (Path(CONFIG_DIR) / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    assert head[0] == "# @package _global_" and any(
        "arXiv:" in line or "Riashat" in line for line in head[:6]
    )
