"""Sweeps through the installed ``alrun -m`` (basic and submitit launchers), their folders and report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from alrun.cli import MAX_DIRNAME, config_dir, job_dirname
from alrun.run.records import record_failure

BIN = Path(sys.executable).parent
ALRUN = shutil.which("alrun", path=str(BIN)) or "alrun"
REPORT = shutil.which("alrun-report", path=str(BIN)) or "alrun-report"


def hydra_cfg(*overrides: str) -> DictConfig:
    """The composed config with its ``hydra`` node."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=900)


def assert_one_job_failed(out: subprocess.CompletedProcess[str], sweep: Path) -> None:
    """Of the sweep ``budget=5000,10``, the good job finished; the bad one is ``failed`` with its reason,
    and the sweep exited 2 with that failure on one line."""
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("alrun: error: initial_size + budget = 5010")
    good, bad = sweep / "budget=10,experiment=smoke", sweep / "budget=5000,experiment=smoke"
    assert json.loads((good / "run.json").read_text())["status"] == "finished"
    assert len(pd.read_csv(good / "metrics.csv")) == 4
    failed = json.loads((bad / "run.json").read_text())
    assert failed["status"] == "failed" and "budget = 5010" in failed["reason"] and failed["seed"] == 0


def test_sweep_then_report(tmp_path):
    sweep = tmp_path / "sweep"
    out = run(
        ALRUN,
        "-m",
        "experiment=smoke",
        "strategy=random,entropy",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert f"sweep folder: {sweep}\n" in out.stdout and f"sweep done: {sweep} (alrun-report" in out.stdout
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == [f"experiment=smoke,seed={s},strategy={n}" for s in (0, 1) for n in ("entropy", "random")]
    assert out.stdout.count("run folder: ") == 4 and out.stdout.count("done: test/acc ") == 4
    rep = run(REPORT, str(sweep), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    summary = pd.read_csv(sweep / "summary.csv").set_index("strategy")
    assert sorted(summary.index) == ["entropy", "random"] and set(summary["n_seeds"]) == {2}
    assert summary.loc["entropy", "n_paired"] == 2 and set(summary["setting"]) == {"experiment=smoke"}
    assert (sweep / "curves.png").stat().st_size > 0 and "| entropy | 2 |" in (
        sweep / "summary.md"
    ).read_text()
    assert "entropy" in rep.stdout and "Failed" not in rep.stdout
    assert len(pd.read_csv(sweep / "rounds.csv")) == 4 * 4  # 4 runs of 4 rounds


@pytest.mark.parametrize(
    "launcher", ["basic", "submitit_local", pytest.param("joblib", marks=pytest.mark.slow)]
)
def test_a_failing_job_does_not_lose_the_others(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    out = run(
        ALRUN,
        "-m",
        "experiment=smoke",
        "budget=5000,10",  # 5000 labels do not fit the pool: that job fails before training
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert_one_job_failed(out, sweep)
    if launcher == "basic":  # the report lists the failed job
        rep = run(REPORT, str(sweep), cwd=tmp_path)
        assert rep.returncode == 0 and "budget=5000,experiment=smoke" in (sweep / "summary.md").read_text()


def test_record_failure_keeps_a_run_json_that_exists(tmp_path):
    record_failure(tmp_path / "a", "bad value", seed=1)
    assert json.loads((tmp_path / "a" / "run.json").read_text()) == {
        "status": "failed",
        "reason": "bad value",
        "seed": 1,
    }
    record_failure(tmp_path / "a", "something else")
    assert json.loads((tmp_path / "a" / "run.json").read_text())["reason"] == "bad value"


def test_job_dirname_is_one_folder_and_not_too_long():
    assert job_dirname("seed=0,strategy=margin") == "seed=0,strategy=margin"
    assert job_dirname("+data.path=/tmp/x,seed=1") == "+data.path=_tmp_x,seed=1"
    long_a, long_b = "a=" + "x" * 300, "a=" + "x" * 299 + "y"
    assert len(job_dirname(long_a)) == MAX_DIRNAME and job_dirname(long_a) != job_dirname(long_b)


def test_sweep_subdir_names_the_job_without_progress():
    cfg = hydra_cfg("seed=1", "progress=false", "strategy=entropy", "+note=a/b")
    assert cfg.hydra.sweep.subdir == "+note=a_b,seed=1,strategy=entropy"


def test_bench_digits_sweeps_the_main_strategies_over_five_seeds():
    cfg = hydra_cfg("experiment=bench_digits")
    params = cfg.hydra.sweeper.params
    assert params.strategy.split(",") == ["random", "margin", "entropy", "least_confidence"]
    assert params.seed.split(",") == ["0", "1", "2", "3", "4"]
    assert (cfg.budget, cfg.query_size, cfg.trainer.max_epochs, cfg.progress) == (180, 20, 100, False)


@pytest.mark.slow
def test_a_killed_joblib_worker_leaves_the_other_jobs_recorded(tmp_path):
    """joblib kills every worker when one dies: the others' jobs are run again and recorded."""
    sweep = tmp_path / "sweep"
    args = [ALRUN, "-m", "experiment=smoke", "query_size=2", "budget=4,10,6", "hydra/launcher=joblib"]
    args += ["hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"]
    env = {**os.environ, "ALRUN_FAULT": "fit@4"}  # only the budget=10 job has a round 4
    out = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert out.returncode == 1, out.stderr
    killed = "budget=10,experiment=smoke,query_size=2"
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith(f"alrun: run failed: sweep job {killed}: its sweep worker process was killed")
    )
    status = {p.name: json.loads((p / "run.json").read_text())["status"] for p in sweep.glob("budget=*")}
    assert status == {killed: "failed"} | {
        f"budget={b},experiment=smoke,query_size=2": "finished" for b in (4, 6)
    }
    again = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr
    info = json.loads((sweep / killed / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed_at_round"] == 4
