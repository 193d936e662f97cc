"""Data problems reach the user as one line and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alrun.errors import UserError

ALRUN = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"


def test_missing_mnist_is_one_line_exit_2_naming_make_data(tmp_path):
    env = {**os.environ, "ALRUN_DATA_DIR": str(tmp_path / "empty")}
    out = subprocess.run(
        [ALRUN, "dataset=mnist", "model=cnn"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alrun: error: "), out.stderr
    assert "mnist/train-images-idx3-ubyte not found" in lines[0] and "run `make data`" in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["dataset=csv", "dataset.path=nothere.csv", "dataset.target=y"], "nothere.csv: no such file"),
        (["dataset=npz"], "dataset=npz needs dataset.path"),
        (["dataset=iris", "dataset.scaling=minmax"], "dataset.scaling='minmax' is not allowed"),
    ],
)
def test_builder_errors_reach_the_cli_as_user_errors(make_cfg, args, needle):
    """Hydra wraps a builder's error; the CLI finds the UserError inside and prints it as one line."""
    from hydra.utils import instantiate

    from alrun.cli import describe, known_error

    with pytest.raises(Exception) as info:
        instantiate(make_cfg(*args).dataset)
    error = known_error(info.value)
    assert isinstance(error, UserError)
    assert needle in describe(error) and "\n" not in describe(error)
