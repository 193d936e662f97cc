"""Kill a run anywhere, run the same command again: the result is the same as never stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from load_helpers import cpu_hog

from alrun.run import checkpoint
from alrun.run.records import RESULT_COLUMNS
from tests.test_cli import ALRUN

SMALL = ["experiment=smoke", "budget=10", "query_size=2", "initial_size=10"]
METRICS = list(RESULT_COLUMNS)


def alrun(folder: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ALRUN_FAULT=fault or "")
    cmd = [ALRUN, *SMALL, *args, f"hydra.run.dir={folder}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=folder.parent)


def metric_text(folder: Path) -> list[str]:
    """metrics.csv reduced to its metric columns, as text (byte-for-byte comparison)."""
    frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
    return frame[METRICS].to_csv(index=False).splitlines()


FACTS = ("threads", "openmp_wait", "cpu_capability", "fit_path", "device", "versions")


def facts(*folders: Path) -> str:
    """What each run's run.json says of its arithmetic (threads, OpenMP wait, CPU kernels, fit path), so
    a metric mismatch under load names what, if anything, differed between the two processes."""
    infos = [json.loads((f / "run.json").read_text()) for f in folders]
    return "; ".join(f"{key}: {[info.get(key) for info in infos]}" for key in (*FACTS, "earlier_processes"))


_REFERENCES: dict[tuple[str, ...], Path] = {}


def reference(tmp_path_factory: pytest.TempPathFactory, *args: str) -> Path:
    """An uninterrupted run with these arguments (one per argument set per session)."""
    if args not in _REFERENCES:
        folder = tmp_path_factory.mktemp("ref") / "run"
        assert alrun(folder, *args).returncode == 0
        _REFERENCES[args] = folder
    return _REFERENCES[args]


def kill_and_resume(tmp_path: Path, args: tuple[str, ...], fault: str) -> tuple[Path, int]:
    """Kill a run at ``fault``, run it again; the folder and the rounds its checkpoint held at the kill."""
    folder = tmp_path / "run"
    killed = alrun(folder, *args, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "running"
    state = checkpoint.load(folder)
    saved = state.rounds_done if state is not None else 0
    assert saved in (info["rounds_done"], info["rounds_done"] - 1)  # a kill mid-checkpoint keeps the old one
    resumed = alrun(folder, *args)
    assert resumed.returncode == 0, resumed.stderr
    return folder, saved


CASES = [
    (("reset=snapshot", "strategy=margin"), "fit@2"),
    (("reset=warm", "strategy=random"), "checkpoint@2"),
    (("reset=scratch", "strategy=power_bald", "model.dropout=0.3"), "query@2"),
]
SLOW_CASES = [
    (("reset=snapshot", "strategy=margin"), "csv:metrics.csv@3"),
    (("reset=snapshot", "strategy=margin"), "query@1"),
    (("reset=snapshot", "strategy=margin"), "csv:queries.csv@14"),
    (("reset=scratch", "strategy=entropy"), "fit@3"),
    (("reset=warm", "strategy=margin"), "query@3"),
    (("reset=scratch", "strategy=random"), "checkpoint@4"),
    (  # a run that stops early (kappa >= -1 for 2 rounds: at round 2) resumes into the same stop
        (
            "strategy=margin",
            "stopping=[stable_predictions]",
            "stopping.stable_predictions.threshold=-1",
            "stopping.stable_predictions.window=2",
        ),
        "fit@2",
    ),
]


@pytest.mark.parametrize(
    ("args", "fault"), CASES + [pytest.param(*c, marks=pytest.mark.slow) for c in SLOW_CASES]
)
def test_killed_run_resumes_bit_identically(tmp_path, tmp_path_factory, args, fault):
    ref = reference(tmp_path_factory, *args)
    folder, saved = kill_and_resume(tmp_path, args, fault)
    assert metric_text(folder) == metric_text(ref), facts(folder, ref)
    assert (folder / "queries.csv").read_bytes() == (ref / "queries.csv").read_bytes()
    info = json.loads((folder / "run.json").read_text())
    assert saved > 0 and info["status"] == "finished" and info["resumed_at_round"] == saved
    killed = info["earlier_processes"]  # the killed process: its rounds and its arithmetic
    assert len(killed) == 1 and killed[0]["from_round"] == 0 and killed[0]["to_round"] >= saved
    assert {k: killed[0][k] for k in ("threads", "cpu_capability", "git_commit")} == {
        k: info[k] for k in ("threads", "cpu_capability", "git_commit")
    }


LOAD_ARGS = ("reset=snapshot", "strategy=margin", "threads=2")


def test_killed_run_resumes_bit_identically_beside_a_cpu_hog(tmp_path, tmp_path_factory):
    """Two torch threads, the killed run and its resumption with a CPU-bound process beside them:
    the same metrics as the uninterrupted run made without it."""
    ref = reference(tmp_path_factory, *LOAD_ARGS)
    with cpu_hog():
        folder, saved = kill_and_resume(tmp_path, LOAD_ARGS, "fit@2")
    assert metric_text(folder) == metric_text(ref), facts(folder, ref)
    assert saved > 0
    assert json.loads((folder / "run.json").read_text())["threads"] == 2


@pytest.mark.slow
def test_two_processes_at_once_beside_a_cpu_hog_give_identical_metrics(tmp_path):
    """Same seed, same thread count (two), two ``alrun`` processes started together beside a CPU-bound
    process (three busy processes on the cores): bit-identical metrics (docs/reliability.md)."""
    folders = [tmp_path / "a" / "run", tmp_path / "b" / "run"]
    env = dict(os.environ, ALRUN_FAULT="")
    with cpu_hog():
        procs = [
            subprocess.Popen(
                [ALRUN, *SMALL, *LOAD_ARGS, f"hydra.run.dir={folder}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            for folder in folders
        ]
        errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    assert metric_text(folders[0]) == metric_text(folders[1]), facts(*folders)
    assert [json.loads((f / "run.json").read_text())["threads"] for f in folders] == [2, 2]


def test_finished_run_is_not_run_again(tmp_path_factory):
    ref = reference(tmp_path_factory, "reset=snapshot", "strategy=margin")
    before = (ref / "metrics.csv").read_bytes()
    again = alrun(ref, "reset=snapshot", "strategy=margin")
    assert again.returncode == 0 and "already finished" in again.stdout
    assert (ref / "metrics.csv").read_bytes() == before


def test_changed_config_resume_is_refused_and_keeps_the_folder(tmp_path):
    folder = tmp_path / "run"
    assert alrun(folder, fault="fit@2").returncode == -signal.SIGKILL
    saved = {p.name: p.read_text() for p in (folder / ".hydra").glob("*.yaml")}
    out = alrun(folder, "budget=8", "strategy=margin")
    assert out.returncode == 2
    line = out.stderr.strip().splitlines()[-1]
    assert "refusing to resume" in line and "budget: 10 -> 8" in line and "strategy._target_" in line
    assert {p.name: p.read_text() for p in (folder / ".hydra").glob("*.yaml")} == saved


def test_resume_key_continues_with_the_recorded_settings(tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory, "reset=snapshot", "strategy=margin")
    folder = tmp_path / "run"
    assert alrun(folder, "reset=snapshot", "strategy=margin", fault="fit@2").returncode == -signal.SIGKILL
    out = subprocess.run(
        [ALRUN, f"resume={folder}"], capture_output=True, text=True, cwd=tmp_path, timeout=900
    )
    assert out.returncode == 0, out.stderr
    assert metric_text(folder) == metric_text(ref), facts(folder, ref)


CTRL_C_ARGS = ("reset=snapshot", "strategy=margin", "trainer.max_epochs=600")  # ~0.5 s a round


def assert_interrupted_then_resumes(proc: subprocess.Popen[str], folder: Path, ref: Path) -> int:
    """Check the Ctrl-C'd run and resume it; the rounds it had finished when interrupted."""
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 130, err
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "interrupted"
    pd.read_csv(folder / "metrics.csv")  # no torn line
    out = alrun(folder, *CTRL_C_ARGS)
    assert out.returncode == 0
    assert metric_text(folder) == metric_text(ref), facts(folder, ref)
    return int(info["rounds_done"])


def default_sigint() -> None:
    """Give the child Ctrl-C's default action: a job started in the background (``cmd &``, as some CI
    runners start it) inherits SIGINT ignored, and Python then keeps ignoring it, as it should."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_ctrl_c_run(tmp_path: Path, fault: str = "") -> tuple[subprocess.Popen[str], Path]:
    folder = tmp_path / "run"
    cmd = [ALRUN, *SMALL, *CTRL_C_ARGS, f"hydra.run.dir={folder}"]
    env = dict(os.environ, ALRUN_FAULT=fault)
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        cmd, stdout=pipe, stderr=pipe, text=True, cwd=tmp_path, env=env, preexec_fn=default_sigint
    )
    return proc, folder


def test_ctrl_c_marks_interrupted_exits_130_and_resumes(tmp_path, tmp_path_factory):
    """A real Ctrl-C from outside after round 1 (600 epochs a round keep the rest of the run ~2 s long)."""
    ref = reference(tmp_path_factory, *CTRL_C_ARGS)
    proc, folder = start_ctrl_c_run(tmp_path)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the first complete round, then press Ctrl-C
        if line.split()[:1] == ["1"]:
            proc.send_signal(signal.SIGINT)
            break
    assert_interrupted_then_resumes(proc, folder, ref)


def test_ctrl_c_inside_a_fit_exits_130_and_resumes(tmp_path, tmp_path_factory):
    """Ctrl-C at an exact place, inside Lightning's fit of round 2 (no race with the run's speed)."""
    ref = reference(tmp_path_factory, *CTRL_C_ARGS)
    proc, folder = start_ctrl_c_run(tmp_path, fault="fit@2:int")
    assert assert_interrupted_then_resumes(proc, folder, ref) == 2


def sigterm_run(folder: Path, fault: str) -> None:
    """A run that SIGTERM stops at ``fault``: exit 143, one line, ``interrupted``, no temporary file."""
    out = alrun(folder, "reset=snapshot", "strategy=margin", fault=fault)
    assert out.returncode == 143, out.stderr
    assert out.stderr.strip().splitlines() == ["alrun: interrupted (SIGTERM)"]
    info = json.loads((folder / "run.json").read_text())
    assert (info["status"], info["reason"]) == ("interrupted", "SIGTERM")
    assert not list(folder.glob(".*.tmp"))


def test_sigterm_during_a_query_marks_interrupted_exits_143_and_resumes(tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory, "reset=snapshot", "strategy=margin")
    folder = tmp_path / "run"
    sigterm_run(folder, "query@2:term")
    resumed = alrun(folder, "reset=snapshot", "strategy=margin")
    assert resumed.returncode == 0, resumed.stderr
    assert metric_text(folder) == metric_text(ref), facts(folder, ref)


def test_sigterm_during_a_checkpoint_write_lets_it_finish(tmp_path):
    folder = tmp_path / "run"
    sigterm_run(folder, "checkpoint@2:term")  # SIGTERM between the write and the rename of round 1's
    state = checkpoint.load(folder)
    assert state is not None and state.rounds_done == 2 and len(pd.read_csv(folder / "metrics.csv")) == 2


def test_sigterm_stops_a_fast_fit_at_once(tmp_path):
    """A million epochs on the fast path (all in on_train_start): SIGTERM in the first one ends the run."""
    folder = tmp_path / "run"
    out = alrun(folder, "fit_mode=fast", "trainer.max_epochs=1000000", fault="fit@0:term")
    assert out.returncode == 143, out.stderr
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"


def test_non_finite_loss_fails_the_run_and_keeps_rows(tmp_path):
    folder = tmp_path / "run"
    out = alrun(folder, "optimizer=sgd", "optimizer.lr=1e30", "trainer.max_epochs=3")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("alrun: run failed: training loss is")
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "training loss" in info["reason"]
    pd.read_csv(folder / "metrics.csv")


def test_unwritable_output_folder_is_one_line(tmp_path):
    out = subprocess.run(
        [ALRUN, *SMALL, "hydra.run.dir=/dev/null/run"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alrun: error: cannot write")


def test_full_disk_is_one_line(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.csv").symlink_to("/dev/full")
    out = alrun(folder)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [f"alrun: error: cannot write {folder / 'metrics.csv'}: No space left on device"]
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "failed" and "metrics.csv" in info["reason"]
    assert not list(folder.glob(".*.tmp"))


def test_sweep_rerun_skips_finished_jobs_and_resumes_interrupted(tmp_path, tmp_path_factory):
    sweep = ["-m", *SMALL, "strategy=random,margin", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = dict(os.environ, ALRUN_FAULT="fit@3")  # the first job dies in round 3
    killed = subprocess.run(
        [ALRUN, *sweep], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900
    )
    assert killed.returncode == -signal.SIGKILL
    done = subprocess.run([ALRUN, *sweep], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([ALRUN, *sweep], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.stdout.count("already finished") == 2
    jobs = [job for job in (tmp_path / "sweep").iterdir() if (job / "run.json").exists()]
    assert len(jobs) == 2
    for job in jobs:
        assert json.loads((job / "run.json").read_text())["status"] == "finished"
    first = next(job for job in jobs if "strategy=random" in job.name)  # the job that was killed
    assert json.loads((first / "run.json").read_text())["resumed_at_round"] == 3
    assert metric_text(first) == metric_text(reference(tmp_path_factory, "strategy=random"))
