"""docs/extending.md: its example project, copied to a temporary folder (not under alrun/), runs
every command of the page; the installed ``alrun`` finds the project's modules in the working directory."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import alrun
from alrun.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
PAGE = (ROOT / "docs" / "extending.md").read_text()
ALRUN = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"
SMOKE = ["experiment=smoke"]  # tiny sizes first; the page's own overrides come after


def page_commands() -> list[str]:
    """Every ``alrun ...`` line of the page's bash blocks, without its comment."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("alrun ")]


def page_errors() -> list[tuple[str, str]]:
    """The ``$ alrun ...`` / ``alrun: error: ...`` pairs of the page."""
    return re.findall(r"^\$ (alrun [^\n#]*?)\s*(?:#[^\n]*)?\nalrun: error: ([^\n]+)$", PAGE, re.M)


def split(command: str) -> tuple[list[str], str | None]:
    """``alrun [--config-dir DIR] OVERRIDES...`` as (overrides, config dir)."""
    args = shlex.split(command)[1:]
    if args[:1] == ["--config-dir"]:
        return args[2:], args[1]
    return args, None


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, copied into a temporary folder."""
    folder = tmp_path_factory.mktemp("project")
    shutil.copytree(EXAMPLES, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in the project, its modules importable (as the CLI makes the working directory)."""
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    return project


def test_the_page_shows_every_example_file_as_it_is():
    shown = dict(re.findall(r"^`([\w/.]+)`:\n\n```\w+\n(.*?)```", PAGE, re.S | re.M))
    files = sorted(
        str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.*") if "__pycache__" not in p.parts
    )
    assert sorted(shown) == files
    for name, text in shown.items():
        assert (EXAMPLES / name).read_text() == text, name


def test_the_installed_command_finds_the_projects_modules_in_the_working_directory(project):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = ["--config-dir", "conf", "model=tiny", "dataset=digits_arrays", "strategy=my_entropy"]
    assert f"alrun {' '.join(args)}" in page_commands()
    out = subprocess.run(
        [ALRUN, *args, *SMOKE, "hydra.run.dir=cli-run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    assert f"run folder: {project / 'cli-run'}\n" in out.stdout
    assert re.search(
        r"^done: test/acc \d\.\d{4} at 20 labels, AUBC \d\.\d{4}, [\d.]+ s wall, ", out.stdout, re.M
    )
    assert len(pd.read_csv(project / "cli-run" / "metrics.csv")) == 4


@pytest.mark.parametrize(
    "command", [c for c in page_commands() if "--config-dir" in c or "dataset=python" in c]
)
def test_every_command_of_the_page_runs(in_project, command):
    overrides, config_dir = split(command)
    result = alrun.run(
        [*SMOKE, *overrides],
        run_dir=in_project / "runs" / re.sub(r"\W+", "_", command),
        config_dir=config_dir,
    )
    assert result.info["status"] == "finished" and len(result.rows) == 4
    assert result.queries["dataset_index"].is_unique


@pytest.mark.parametrize(("command", "message"), page_errors())
def test_every_error_of_the_page_is_that_line(in_project, command, message):
    overrides, config_dir = split(command)
    with pytest.raises(UserError) as err:
        alrun.run(overrides, run_dir=in_project / "errors", config_dir=config_dir)
    assert str(err.value) == message
    assert not list((in_project / "errors").glob("*.csv"))


def test_a_scoring_function_picks_what_the_built_in_strategy_picks(in_project):
    ours = alrun.run([*SMOKE, "strategy=my_entropy"], run_dir=in_project / "fn", config_dir="conf")
    theirs = alrun.run([*SMOKE, "strategy=entropy"], run_dir=in_project / "builtin")
    pd.testing.assert_frame_equal(ours.queries, theirs.queries)
    assert ours.rows["test/acc"].tolist() == theirs.rows["test/acc"].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_sweep_jobs_in_other_processes_find_the_projects_modules(project, launcher, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sweep = tmp_path / "sweep"
    out = subprocess.run(
        [
            ALRUN,
            "-m",
            "--config-dir",
            "conf",
            "model=tiny,sized",
            "strategy=my_margin",
            *SMOKE,
            f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert len(list(sweep.rglob("metrics.csv"))) == 2
