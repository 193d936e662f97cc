"""Shared fixtures: configs composed through Hydra's compose API, shrunk to tiny sizes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
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

    from alrun.active.loop import run_loop
    from alrun.run.experiment import build, quiet_lightning

    def _run(*overrides: str, folder: str = "run") -> list[dict]:
        cfg = make_cfg(*overrides)
        quiet_lightning()
        exp = build(cfg, tmp_path / folder)
        run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers, stopping=exp.stopping)
        return pd.read_csv(tmp_path / folder / "metrics.csv").to_dict("records")

    return _run


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tests run single-threaded so results do not depend on the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- small data files the tests write (dataset=csv, npz, IDX) ---------------------------------
def _write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as an IDX file; gzip-compressed when ``path`` ends in ``.gz``."""
    import gzip

    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = head + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture
def write_idx() -> Callable[[Path, np.ndarray], Path]:
    """The IDX writer (the format of the MNIST files: magic 0,0,0x08,ndim, big-endian sizes, bytes)."""
    return _write_idx


@pytest.fixture
def idx_root(tmp_path: Path) -> Path:
    """A data folder with tiny MNIST (plain files) and Fashion-MNIST (.gz) sets of 28x28 images:
    40 training and 20 test images, labels cycling through 0..9."""
    rng = np.random.default_rng(0)
    for folder, ext in (("mnist", ""), ("fashion-mnist", ".gz")):
        for part, n in (("train", 40), ("t10k", 20)):
            _write_idx(
                tmp_path / folder / f"{part}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28))
            )
            _write_idx(tmp_path / folder / f"{part}-labels-idx1-ubyte{ext}", np.arange(n) % 10)
    return tmp_path


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """A CSV of 120 items: 4 numeric features, an id column and string labels in 3 classes."""
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "emu"])[np.arange(120) % 3]
    x = rng.normal(size=(120, 4)) + (np.arange(120) % 3)[:, None] * 2.0
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(id=np.arange(120), label=labels)
    df.to_csv(tmp_path / "tiny.csv", index=False)
    return tmp_path / "tiny.csv"


@pytest.fixture
def tiny_npz(tmp_path: Path) -> Path:
    """An .npz of 90 items with 6 features and integer labels 1, 2, 3 (coded 0, 1, 2)."""
    rng = np.random.default_rng(1)
    y = np.arange(90) % 3 + 1
    np.savez(tmp_path / "tiny.npz", X=rng.normal(size=(90, 6)) + y[:, None], y=y)
    return tmp_path / "tiny.npz"


@pytest.fixture
def dataset_overrides(tiny_csv: Path, tiny_npz: Path, idx_root: Path) -> Callable[[str], list[str]]:
    """Overrides that make ``dataset=<option>`` loadable in a test: the tiny files for csv/npz,
    the tiny IDX folder for mnist/fashion_mnist, a scikit-learn generator for python."""
    extra = {
        "csv": [f"dataset.path={tiny_csv}", "dataset.target=label", "dataset.drop=[id]"],
        "npz": [f"dataset.path={tiny_npz}"],
        "python": [  # a function that returns (X, y)
            "dataset.source._target_=sklearn.datasets.make_classification",
            "+dataset.source.n_samples=120",
            "+dataset.source.random_state=0",
        ],
        "mnist": [f"dataset.root={idx_root}"],
        "fashion_mnist": [f"dataset.root={idx_root}"],
    }
    return lambda option: [f"dataset={option}", *extra.get(option, [])]
