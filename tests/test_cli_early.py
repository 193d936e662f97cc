"""``alrun --help`` from the config folder, and tab completion: the same answers as Hydra's own."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hydra import initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra

from alrun import cli_early
from alrun.cli import config_dir
from tests.test_cli import ALRUN


def hydra_listing(folder: str) -> str:
    """Hydra's own ``$APP_CONFIG_GROUPS`` text for a config folder."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=folder, version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        return hydra.format_config_groups(lambda g: not (g == "hydra" or g.startswith("hydra/")))


def test_groups_from_the_folder_are_hydras_listing():
    assert cli_early.app_config_groups(config_dir()) == hydra_listing(config_dir())


def test_help_lists_any_number_of_options_without_hydras_per_group_listing(tmp_path, monkeypatch):
    folder = shutil.copytree(config_dir(), tmp_path / "configs")
    (folder / "strategy" / "nested").mkdir()
    (folder / "strategy" / "nested" / "inner.yaml").write_text("_target_: alrun.strategies.Margin\n")
    for i in range(300):
        (folder / "strategy" / f"extra_{i:03d}.yaml").write_text("_target_: alrun.strategies.Margin\n")
    expected = hydra_listing(str(folder))
    assert "strategy/nested: inner\n" in expected and "extra_299" in expected

    def refuse(*args, **kwargs):
        raise AssertionError("Hydra's per-group listing was called")

    monkeypatch.setattr(ConfigLoaderImpl, "get_group_options", refuse)
    GlobalHydra.instance().clear()
    text = cli_early.fast_help(["--help", "strategy=extra_007"], str(folder))
    GlobalHydra.instance().clear()
    assert text is not None and expected in text
    assert "== Config ==" in text and "strategy:\n  _target_: alrun.strategies.Margin" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["budget=5"],
        ["--config-dir", "x", "--help"],
        ["--help", "--config-name", "config"],
        ["-h", "hydra.searchpath=[]"],
    ],
)
def test_hydra_answers_what_the_folder_alone_cannot(argv):
    assert cli_early.fast_help(argv, config_dir()) is None


def run(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [ALRUN, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_help_is_hydras_help_with_the_composed_config():
    """``--config-dir`` makes Hydra answer (another folder could add options): same text."""
    args = ("--help", "strategy=entropy", "budget=7")
    fast = run(*args)
    assert fast == run(*args, "--config-dir", config_dir())
    assert "budget: 7" in fast and "_target_: alrun.strategies.Entropy" in fast


def test_tab_completion_lists_groups_options_and_keys():
    assert run("-sc", "query=bash", env={"COMP_LINE": "alrun strategy=mar"}).split() == ["strategy=margin"]
    assert "strategy=" in run("-sc", "query=bash", env={"COMP_LINE": "alrun stra"}).split()
    assert "budget=" in run("-sc", "query=bash", env={"COMP_LINE": "alrun "}).split()
