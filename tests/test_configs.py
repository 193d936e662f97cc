"""Every option of every config group composes and instantiates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate

from alrun.cli import config_dir
from alrun.config.checks import TOP_LEVEL_KEYS, validate
from alrun.config.settings import check_settings
from alrun.errors import ConfigError
from alrun.run.preflight import preflight

CONFIG_DIR = config_dir()

GROUPS = ("dataset", "model", "optimizer", "strategy", "trainer")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml") if p.stem != "default")


# item shapes the model options are built for (shapes only: no data set is loaded)
FLAT, IMAGE = (64,), (1, 28, 28)
MODEL_SHAPES = {"cnn": IMAGE, "resnet": IMAGE, "batchbald_cnn": IMAGE}


def check_model(net_factory: Any, option: str) -> None:
    """Build the net for a dataset shape it fits and run one forward pass: logits ``[N, C]``."""
    from alrun.models.nets import Classifier

    shape, n_classes = MODEL_SHAPES.get(option, FLAT), 7
    net = net_factory(input_shape=shape, n_classes=n_classes)
    assert isinstance(net, Classifier)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = net.eval()(x)
    assert logits.shape == (3, n_classes) and torch.isfinite(logits).all()
    assert net.embed(x).shape[0] == 3


def check_trainer(trainer_factory: Any, option: str) -> None:
    """Build the Lightning Trainer (the gpu option only where CUDA exists)."""
    import lightning.pytorch as pl

    if option in ("gpu", "ddp") and torch.cuda.device_count() < (2 if option == "ddp" else 1):
        pytest.skip(f"trainer={option} needs CUDA GPUs")
    trainer = trainer_factory()
    assert isinstance(trainer, pl.Trainer) and trainer.max_epochs == 2  # experiment=smoke's setting
    cuda = "CUDAAccelerator"
    auto = cuda if torch.cuda.is_available() else None
    expected = {"cpu": "CPUAccelerator", "gpu": cuda, "auto": auto, "ddp": cuda, "ddp_cpu": "CPUAccelerator"}
    assert expected.get(option) in (None, type(trainer.accelerator).__name__)


def check_optimizer(optimizer_factory: Any, cfg: Any) -> None:
    """Build the optimizer on some parameters, with the configured learning rate."""
    params = [torch.nn.Parameter(torch.zeros(4, 2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = optimizer_factory(params)
    assert isinstance(optimizer, torch.optim.Optimizer)
    group = optimizer.param_groups[0]
    assert group["lr"] == cfg.lr and len(group["params"]) == 2


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_instantiates(make_cfg, dataset_overrides, group, option):
    from alrun.data.splits import Splits
    from alrun.strategies.base import Acquisition

    overrides = dataset_overrides(option) if group == "dataset" else [f"{group}={option}"]
    cfg = make_cfg(*overrides)
    validate(cfg)
    if not (option in ("gpu", "ddp") and not torch.cuda.is_available()):
        preflight(cfg)  # the validation phase refuses no shipped option
    obj = instantiate(cfg[group])
    if group == "model":
        check_model(obj, option)
    elif group == "trainer":
        check_trainer(obj, option)
    elif group == "optimizer":
        check_optimizer(obj, cfg.optimizer)
    elif group == "strategy":
        assert isinstance(obj, Acquisition)
    else:
        assert isinstance(obj, Splits) and len(obj.train) > 0 and len(obj.test) > 0
        assert obj.n_classes == len(torch.unique(obj.train.y)) >= 2


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}", smoke=False)
    validate(cfg)
    preflight(cfg)


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"hidden": [8, 1.5]}, "model.hidden=[8, 1.5] is not allowed (allowed: lists of integers)"),
        ({"hidden": [8], "dropout": True}, "model.dropout=true is not a number (allowed: numbers)"),
        ({"dropout": "0.1"}, "model.dropout='0.1' is not a number (allowed: numbers)"),
    ],
)
def test_settings_are_checked_against_the_constructors_type_hints(settings, line):
    node = {"_target_": "alrun.models.nets.MLP", "_partial_": True}
    check_settings({**node, "hidden": [8], "dropout": 0}, "model")  # an int is a number; a list, a sequence
    with pytest.raises(ConfigError) as info:
        check_settings({**node, **settings}, "model")
    assert str(info.value) == line
    base = {"_target_": "alrun.strategies.Bald", "consistent": 1}
    with pytest.raises(
        ConfigError, match=r"strategy.base.consistent=1 is not allowed \(choose from: true, false\)"
    ):
        check_settings({"_target_": "alrun.strategies.StochasticBatch", "base": base}, "strategy")
    check_settings({"_target_": "mypkg.Anything", "x": object()}, "model")  # the user's targets are theirs


def test_top_level_keys_are_those_of_config_yaml(make_cfg):
    assert set(make_cfg(smoke=False)) - {"hydra"} == TOP_LEVEL_KEYS


def test_an_added_top_level_key_is_refused(make_cfg):
    with pytest.raises(ConfigError, match=r"unknown config key 'budgte'.*top-level keys: batch_size"):
        validate(make_cfg("+budgte=3"))


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


def test_deepalplus_mnist_settings(make_cfg):
    cfg = make_cfg("experiment=deepalplus_mnist", smoke=False)
    assert cfg.model._target_ == "alrun.models.resnet.ResNet" and cfg.optimizer.lr == 1e-3
    assert (cfg.initial_size, cfg.query_size, cfg.budget) == (100, 100, 1000)
    assert (cfg.batch_size, cfg.trainer.max_epochs, cfg.reset) == (128, 20, "scratch")
