"""Every option of every config group composes and instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate

from alrun.cli import config_dir
from alrun.config import validate

CONFIG_DIR = config_dir()

GROUPS = ("dataset", "model", "optimizer", "strategy", "trainer")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml") if p.stem != "default")


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_instantiates(make_cfg, dataset_overrides, group, option):
    overrides = dataset_overrides(option) if group == "dataset" else [f"{group}={option}"]
    cfg = make_cfg(*overrides)
    validate(cfg)
    obj = instantiate(cfg[group])
    assert obj is not None


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}", smoke=False)
    validate(cfg)


def test_every_strategy_class_has_a_config():
    import alrun.strategies as S
    from alrun.strategies.base import Acquisition

    exported = {
        n for n in S.__all__ if isinstance(getattr(S, n), type) and issubclass(getattr(S, n), Acquisition)
    }
    abstract = {"Acquisition", "ScoreAcquisition"}
    targets = {(Path(CONFIG_DIR) / "strategy" / f"{o}.yaml").read_text() for o in options("strategy")}
    for name in exported - abstract:
        assert any(f"alrun.strategies.{name}\n" in t for t in targets), (
            f"{name} has no configs/strategy/*.yaml"
        )


def test_digits_deeplay_settings(make_cfg):
    cfg = make_cfg("experiment=digits_deeplay", smoke=False)
    assert (cfg.budget, cfg.query_size, cfg.initial_size) == (180, 20, 20)
    assert list(cfg.model.hidden) == [64, 64] and cfg.trainer.max_epochs == 100
    assert cfg.batch_size == 32 and cfg.reset == "snapshot" and cfg.optimizer.lr == 1e-3


def test_gal2017_mnist_settings(make_cfg):
    cfg = make_cfg("experiment=gal2017_mnist", smoke=False)
    assert cfg.dataset._target_ == "alrun.idx.mnist" and cfg.model._target_ == "alrun.nets.CNN"
    assert (cfg.initial, cfg.initial_size, cfg.query_size, cfg.val_size) == ("balanced", 20, 10, 100)
    assert cfg.initial_size + cfg.budget == 1000 and cfg.reset == "scratch"
    assert (cfg.model.dropout_conv, cfg.model.dropout_dense, cfg.model.hidden) == (0.25, 0.5, 128)
    text = (Path(CONFIG_DIR) / "experiment" / "gal2017_mnist.yaml").read_text()
    assert "override /strategy" not in text  # the strategy is the user's choice
    assert make_cfg("experiment=gal2017_mnist", "strategy=entropy", smoke=False).strategy._target_.endswith(
        "Entropy"
    )


def test_deepalplus_mnist_settings(make_cfg):
    cfg = make_cfg("experiment=deepalplus_mnist", smoke=False)
    assert cfg.model._target_ == "alrun.resnet.ResNet" and cfg.optimizer.lr == 1e-3
    assert (cfg.initial_size, cfg.query_size, cfg.budget) == (100, 100, 1000)
    assert (cfg.batch_size, cfg.trainer.max_epochs, cfg.reset) == (128, 20, "scratch")
