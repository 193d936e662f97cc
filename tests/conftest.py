"""Shared fixtures: configs composed through Hydra's compose API, shrunk to tiny sizes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from alrun.cli import config_dir

CONFIG_DIR = config_dir()


@pytest.fixture
def make_cfg() -> Iterator[Callable[..., DictConfig]]:
    """Compose the real config with overrides (``experiment=smoke`` unless told otherwise)."""

    def _compose(*overrides: str, smoke: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose("config", overrides=(["experiment=smoke"] if smoke else []) + list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def run_cfg(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> Callable[..., list[dict]]:
    """Run a composed config through ``run_loop`` into ``tmp_path`` and return the metric rows."""
    import pandas as pd

    from alrun.app import build, quiet_lightning
    from alrun.loop import run_loop

    def _run(*overrides: str, folder: str = "run") -> list[dict]:
        cfg = make_cfg(*overrides)
        quiet_lightning()
        exp = build(cfg, tmp_path / folder)
        run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers)
        return pd.read_csv(tmp_path / folder / "metrics.csv").to_dict("records")

    return _run


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tests run single-threaded so results do not depend on the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
