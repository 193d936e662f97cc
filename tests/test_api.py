"""The Python API: alrun.run() leaves the CLI's files, alrun.report.load(), the notebook page,
and ``import alrun`` staying cheap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from report_helpers import write_sweep

import alrun
from alrun.report.cli import main as report_main
from alrun.report.runs import identity
from alrun.run.records import RESULT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_the_notebook_page_runs_and_its_runs_read_like_cli_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for cell in re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python.md").read_text(), re.S):
        exec(cell, namespace)  # the page's cells, in order, as a notebook runs them
    runs = namespace["tables"].runs.set_index(["strategy", "seed"]).sort_index()
    assert list(runs.index) == [("entropy", 0), ("entropy", 1), ("random", 0), ("random", 1)]
    assert set(runs["problem"]) == {""} and set(runs["setting"]) == {namespace["tables"].runs["setting"][0]}
    assert namespace["summary"].shape == (2, 2) and list(namespace["curves"].index) == [20, 30, 40, 50, 60]
    result = namespace["result"]
    folder = tmp_path / "runs" / "entropy-0"
    assert result.run_dir == folder and result.info["status"] == "finished"
    pd.testing.assert_frame_equal(result.rows, pd.read_csv(folder / "metrics.csv"))
    assert sorted(p.name for p in (folder / ".hydra").iterdir()) == [
        "config.yaml",
        "hydra.yaml",
        "overrides.yaml",
    ]
    assert identity(folder)["strategy"] == "entropy" and identity(folder)["dataset"] == "digits"
    assert not (tmp_path / "runs" / "typo").exists() or not list((tmp_path / "runs" / "typo").glob("*.csv"))


def test_a_python_run_gives_the_compose_api_runs_numbers(tmp_path, run_cfg):
    ours = alrun.run(["experiment=smoke", "strategy=margin"], run_dir=tmp_path / "api")
    theirs = pd.DataFrame(run_cfg("strategy=margin"))
    pd.testing.assert_frame_equal(ours.rows[list(RESULT_COLUMNS)], theirs[list(RESULT_COLUMNS)])
    again = alrun.run(["resume=" + str(tmp_path / "api")])  # resume= reads the folder's overrides
    pd.testing.assert_frame_equal(again.rows, ours.rows)


def test_report_load_and_rounds_csv(tmp_path):
    sweep = write_sweep(tmp_path / "s", {"random": [[0.5, 0.6, 0.7, 0.8]], "entropy": [[0.5, 0.7, 0.8, 0.9]]})
    tables = alrun.report.load(sweep)
    assert sorted(tables.runs["strategy"]) == ["entropy", "random"]
    aubc = tables.runs.set_index("strategy")["aubc"]
    assert aubc["random"] == pytest.approx(0.63) and len(tables.rounds) == 8
    with pytest.raises(SystemExit) as stop:
        report_main([str(sweep)])
    assert stop.value.code == 0
    rounds = pd.read_csv(sweep / "rounds.csv")
    assert len(rounds) == 8 and {"path", "strategy", "seed", "round", "test/acc"} <= set(rounds.columns)


def test_import_alrun_and_version_import_nothing_heavy():
    code = (
        "import sys, alrun, alrun.report, alrun.run\n"
        "from alrun.cli import version\n"
        "line = version()\n"
        "heavy = [m for m in ('torch', 'lightning', 'pandas', 'sklearn') if m in sys.modules]\n"
        "print(line); print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line, heavy = out.stdout.splitlines()
    assert re.fullmatch(r"alrun 0\.1\.0 \(torch \S+, lightning \S+, hydra \S+, python \S+\)", line)
    assert heavy == "[]"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_the_version_flags_print_alruns_version(flag, tmp_path):
    import shutil

    from alrun.cli import version

    command = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"
    out = subprocess.run([command, flag], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == version() + "\n" and not list(tmp_path.iterdir())
