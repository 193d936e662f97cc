"""``hydra/launcher=slurm``: the sbatch script its config makes, a machine without Slurm, and (marked
``slurm``) sweeps against the running one-node Slurm of ``scripts/slurm_local.sh``: results equal a local
sweep, a requeued job resumes its own folder, a failing job is recorded while the others finish."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from alrun.run.records import RESULT_COLUMNS
from tests.test_sweeps import ALRUN, BIN, REPORT, assert_one_job_failed, hydra_cfg

ROOT = Path(__file__).resolve().parents[1]
SLURM_SCRIPT = ROOT / "scripts" / "slurm_local.sh"
# both CPUs of the one-node cluster busy: two jobs of 1 CPU at a time; one torch thread, as the local runs
ON_SLURM = ("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1")
GRID = ("experiment=smoke", "strategy=random,margin", "seed=0,1", "threads=1")
LONG = ("experiment=smoke", "budget=160", "seed=0", "threads=1")  # 40 rounds: still running when signalled
LONGER = ("experiment=smoke", "budget=400", "seed=0", "threads=1")  # 100 rounds: still running at a SIGKILL
DONE_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"}
FINAL_STATES = DONE_STATES - {"PREEMPTED"}  # the sweep has ended: a preempted job ran again


def run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def local_slurm_running() -> bool:
    """Whether the local Slurm of ``scripts/slurm_local.sh`` is up and takes jobs."""
    try:
        return subprocess.run([SLURM_SCRIPT, "status"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def slurm() -> None:
    """Skip (or, under ``make test-slurm``, fail) when the local Slurm is not running."""
    if local_slurm_running():
        return
    message = "no local Slurm running: `make test-slurm` starts one (scripts/slurm_local.sh, as root)"
    if os.environ.get("ALRUN_SLURM_REQUIRED"):
        pytest.fail(message)
    pytest.skip(message)


# ---- no Slurm needed -----------------------------------------------------------------------------
def test_slurm_launcher_config_makes_the_documented_sbatch_script(tmp_path, monkeypatch):
    from hydra_plugins.alrun_launcher import SlurmLauncher

    cfg = hydra_cfg("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.account=proj")
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(params, dict) and params.pop("_target_") == "hydra_plugins.alrun_launcher.SlurmLauncher"
    (tmp_path / "srun").write_text("#!/bin/sh\n")  # submitit only checks that srun exists
    (tmp_path / "srun").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    params["submitit_folder"] = str(tmp_path / "jobs")
    executor = SlurmLauncher(**params).executor()
    assert executor._executor.max_num_timeout == 3
    script = executor._executor._make_submission_file_text("alrun", "uid")
    for line in (
        "job-name=alrun",
        "partition=gpu",
        "account=proj",
        "time=180",
        "cpus-per-task=2",
        "mem=8GB",
        "gpus-per-node=0",
        "nodes=1",
        "ntasks-per-node=1",
        "requeue",
        "signal=USR2@120",
    ):
        assert f"#SBATCH --{line}\n" in script, script


def test_without_slurm_the_slurm_launcher_is_one_line_and_writes_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    env = dict(os.environ, PATH=str(BIN))  # the venv's commands only: no sbatch, no srun
    cmd = [ALRUN, "-m", "experiment=smoke", "hydra/launcher=slurm", f"hydra.sweep.dir={sweep}"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "alrun: error: hydra/launcher=slurm needs Slurm's sbatch and srun on PATH (not found here); run it "
        "on a Slurm login node, or use hydra/launcher=submitit_local or joblib on this machine"
    )
    assert not sweep.exists()


def test_an_exit_during_a_run_marks_it_interrupted(make_cfg, tmp_path):
    """submitit requeues a Slurm job by raising SystemExit in it: the run is interrupted, not failed."""
    from alrun.active.loop import run_loop
    from alrun.run.experiment import build, quiet_lightning

    class ExitInRound1:
        def run_started(self, plan, n_rounds):
            pass

        def labelled(self, records):
            pass

        def round_finished(self, row, info):
            if row["round"] == 1:
                raise SystemExit(-1)

        def run_finished(self, status, reason=None):
            pass

    quiet_lightning()
    exp = build(make_cfg(), tmp_path / "run")
    with pytest.raises(SystemExit):
        run_loop(exp.strategy, exp.make_trainer, exp.plan, [*exp.observers, ExitInRound1()])
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (info["status"], info["reason"], info["rounds_done"]) == ("interrupted", "SystemExit(-1)", 2)


# ---- against the local Slurm ---------------------------------------------------------------------
def job_ids(sweep: Path) -> list[str]:
    """The Slurm ids of the sweep's jobs, from submitit's folder: ``<array>_<task>`` for an array job,
    a plain id when the sweep has one job (submitit submits that one alone)."""
    names = [p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()]
    tasks = [n for n in names if re.fullmatch(r"\d+_\d+", n)]
    if tasks:
        return sorted(tasks, key=lambda n: int(n.split("_")[1]))
    return [n for n in names if n.isdigit()]


def sacct(job: str, timeout: float = 180) -> list[tuple[str, str, str]]:
    """``(job id, name, state)`` of every run of ``job`` (``-D``: a requeued job's earlier runs too),
    once all are over (the accounting lags the end of a job by a moment, and a requeued job's rerun
    shows up after its ``PREEMPTED`` run)."""
    deadline = time.monotonic() + timeout
    while True:
        cmd = ["sacct", "-D", "-X", "-n", "-P", "-j", job, "-o", "JobID,JobName,State"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
        rows = [tuple(line.split("|")) for line in out.stdout.splitlines() if line]
        last = {}
        for job_id, _, state in rows:
            last[job_id] = state.split()[0]  # "CANCELLED by 0" -> CANCELLED
        if (rows and set(last.values()) <= FINAL_STATES) or time.monotonic() > deadline:
            return [(j, n, s.split()[0]) for j, n, s in rows]  # type: ignore[misc]
        time.sleep(0.5)


def metric_text(folder: Path) -> list[str]:
    """metrics.csv reduced to the columns a seed reproduces, as text."""
    frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
    return frame[list(RESULT_COLUMNS)].to_csv(index=False).splitlines()


def assert_same_run(folder: Path, reference: Path) -> None:
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"
    assert metric_text(folder) == metric_text(reference)
    assert (folder / "queries.csv").read_text() == (reference / "queries.csv").read_text()


def only_job_folder(sweep: Path) -> Path:
    (folder,) = (p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    return folder


def wait_for_rounds(sweep: Path, n: int, proc: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait until the sweep's one job has finished ``n`` rounds; its Slurm id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        metrics = list(sweep.glob("*/metrics.csv"))
        if metrics and len(metrics[0].read_text().splitlines()) > n:
            return job_ids(sweep)[0]
        time.sleep(0.05)
    raise AssertionError(f"the job did not reach round {n} (sweep exit code {proc.poll()})")


def release_until_done(proc: subprocess.Popen[str], job: str, timeout: float = 400) -> str:
    """Wait for the sweep; Slurm holds a requeued job for ~2 minutes (BeginTime), the test lets it go
    at once. The sweep's stderr."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        state = run("squeue", "-h", "-j", job, "-o", "%T %r", cwd=ROOT, timeout=60).stdout.split()
        if state == ["PENDING", "BeginTime"]:
            run("scontrol", "update", f"jobid={job}", "StartTime=now", cwd=ROOT, timeout=60)
        time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate()
    return err


def start_sweep(sweep: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [ALRUN, "-m", *args, *ON_SLURM, f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen(
        cmd, cwd=sweep.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def uninterrupted(folder: Path, *args: str) -> Path:
    out = run(ALRUN, *args, f"hydra.run.dir={folder}", cwd=folder.parent)
    assert out.returncode == 0, out.stderr
    return folder


@pytest.mark.slurm
def test_a_sweep_runs_as_slurm_jobs_and_matches_a_local_sweep(slurm, tmp_path):
    local, on_slurm = tmp_path / "local", tmp_path / "slurm"
    out = run(ALRUN, "-m", *GRID, f"hydra.sweep.dir={local}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run(ALRUN, "-m", *GRID, *ON_SLURM, f"hydra.sweep.dir={on_slurm}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = job_ids(on_slurm)
    array = jobs[0].split("_")[0]
    assert sacct(array) == [(f"{array}_{i}", "alrun", "COMPLETED") for i in range(4)]
    names = sorted(p.name for p in local.iterdir() if p.is_dir())
    assert len(names) == 4 and sorted(p.name for p in on_slurm.iterdir() if p.is_dir()) == [
        ".submitit",
        *names,
    ]
    for name in names:
        assert_same_run(on_slurm / name, local / name)
    # the report reads the Slurm sweep folder as the local one (submitit's logs and pickles are skipped)
    for sweep in (local, on_slurm):
        rep = run(REPORT, str(sweep), cwd=tmp_path)
        assert rep.returncode == 0 and "4 runs, 4 finished and complete" in rep.stdout, (
            rep.stdout + rep.stderr
        )
    summaries = [pd.read_csv(s / "summary.csv") for s in (local, on_slurm)]
    pd.testing.assert_frame_equal(*summaries)


@pytest.mark.slurm
def test_the_time_limit_signal_requeues_the_job_and_it_resumes(slurm, tmp_path):
    """USR2, which Slurm sends `signal_delay_s` before the time limit: submitit requeues the job, the
    run stops `interrupted`, the requeued job resumes its own folder and ends as an uninterrupted run."""
    reference = uninterrupted(tmp_path / "reference", *LONG)
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, *LONG)
    job = wait_for_rounds(sweep, 2, proc)
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=60)
    err = release_until_done(proc, job)
    assert proc.returncode == 0, err
    assert [state for _, _, state in sacct(job)] == ["REQUEUED", "COMPLETED"]
    folder = only_job_folder(sweep)
    assert json.loads((folder / "run.json").read_text())["resumed_at_round"] >= 2
    assert_same_run(folder, reference)
    log = (sweep / ".submitit" / job / f"{job}_0_log.out").read_text()  # the job's stdout, both runs
    assert "Requeued job" in log and "resuming" in log


@pytest.mark.slurm
def test_a_preempted_job_is_requeued_and_resumes(slurm, tmp_path):
    """A job of the higher partition (`urgent`) needs both CPUs: Slurm preempts the alrun job
    (PreemptMode=REQUEUE: SIGTERM, SIGKILL after KillWait, back to the queue), and the requeued job
    resumes at its last checkpoint."""
    reference = uninterrupted(tmp_path / "reference", *LONGER)
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, *LONGER)
    job = wait_for_rounds(sweep, 2, proc)
    urgent = ["sbatch", "--parsable", "-p", "urgent", "-c", "2", "--mem=100M", "-o", "/dev/null"]
    subprocess.run([*urgent, "--wrap", "sleep 1"], check=True, timeout=60, cwd=tmp_path)
    err = release_until_done(proc, job)
    assert proc.returncode == 0, err
    assert [state for _, _, state in sacct(job)] == ["PREEMPTED", "COMPLETED"]
    folder = only_job_folder(sweep)
    assert json.loads((folder / "run.json").read_text())["resumed_at_round"] >= 2
    assert_same_run(folder, reference)


@pytest.mark.slurm
def test_sigterm_to_a_job_interrupts_its_run_at_once(slurm, tmp_path):
    """`scancel --signal=TERM` (what a preemption or a time limit sends): the run stops `interrupted`
    (SIGTERM) at the next instruction, as `alrun` does outside Slurm, and the sweep names the job."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, *LONG)
    job = wait_for_rounds(sweep, 2, proc)
    subprocess.run(["scancel", "--signal=TERM", job], check=True, timeout=60)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 1 and f"Slurm job {job}" in err.strip().splitlines()[-1], err
    folder = only_job_folder(sweep)
    info = json.loads((folder / "run.json").read_text())
    assert (info["status"], info["reason"]) == ("interrupted", "SIGTERM")
    assert info["rounds_done"] < 41  # LONG runs 41 rounds
    log = (sweep / ".submitit" / job / f"{job}_0_log.err").read_text()
    assert "alrun: interrupted (SIGTERM)" in log and "Traceback" not in log
    assert not list(folder.glob("*.tmp"))


@pytest.mark.slurm
def test_a_job_failing_for_a_bad_value_is_failed_while_the_other_finishes(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    args = ("experiment=smoke", "budget=5000,10", *ON_SLURM, f"hydra.sweep.dir={sweep}")
    out = run(ALRUN, "-m", *args, cwd=tmp_path)
    assert_one_job_failed(out, sweep)
    array = job_ids(sweep)[0].split("_")[0]
    assert [name for _, name, _ in sacct(array)] == ["alrun", "alrun"]
    rep = run(REPORT, str(sweep), cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    summary = (sweep / "summary.md").read_text()
    assert "budget=5000,experiment=smoke" in summary and "| entropy | 1 |" in summary


@pytest.mark.slurm
def test_a_job_at_its_time_limit_without_requeues_left_is_failed_with_the_reason(slurm, tmp_path):
    """A real time limit (2 min): Slurm sends USR2 `signal_delay_s` before it; with max_num_timeout=0
    submitit does not requeue, the run is `failed` with the reason and its rows, the sweep says so in
    one line. (200 epochs a round keep the run far longer than the limit on any machine. Slurm checks
    time limits every 30 s and sends the signal up to 30 s early: after 20-50 s here, once the job's
    step is surely running; a signal sent before the step exists would be lost.)"""
    sweep = tmp_path / "sweep"
    limit = ("timeout_min=2", "signal_delay_s=70", "max_num_timeout=0")
    args = ("experiment=smoke", "budget=1000", "trainer.max_epochs=200", "threads=1", *ON_SLURM)
    out = run(
        ALRUN, "-m", *args, *(f"hydra.launcher.{k}" for k in limit), f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert out.returncode == 1, out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("alrun: run failed: Slurm job ") and "timed-out too many times" in line, line
    folder = only_job_folder(sweep)
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "timed-out too many times" in info["reason"]
    assert 0 < info["rounds_done"] == len(pd.read_csv(folder / "metrics.csv")) < 251
