"""The run folder: one process at a time, failures while writing, interrupts at start-up."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from alrun.run import atomic
from alrun.run.guard import LOCK_NAME, FolderInUse, RunFolderGuard
from tests.test_cli import ALRUN
from tests.test_resume import default_sigint

SMOKE = ["experiment=smoke", "budget=10", "query_size=2", "initial_size=10"]


def start(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``alrun`` into ``folder`` (its parent must exist), with Ctrl-C's default action (see test_resume)."""
    cmd = [ALRUN, *SMOKE, *args, f"hydra.run.dir={folder}"]
    pipe = subprocess.PIPE
    return subprocess.Popen(
        cmd,
        stdout=pipe,
        stderr=pipe,
        text=True,
        cwd=folder.parent,
        env={**os.environ, **(env or {})},
        preexec_fn=default_sigint,
    )


def stopped(proc: subprocess.Popen[str]) -> bool:
    """Whether ``proc`` is stopped (by SIGSTOP), from ``/proc/<pid>/stat``."""
    return Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_second_process_into_the_same_folder_is_refused_and_changes_nothing(tmp_path):
    folder = tmp_path / "run"
    first = start(folder, "strategy=margin", "threads=1", env={"ALRUN_FAULT": "checkpoint@1:stop"})
    deadline = time.monotonic() + 240
    while first.poll() is None and not stopped(first):  # it waits in its first checkpoint, holding the folder
        assert time.monotonic() < deadline
        time.sleep(0.05)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    second = start(folder, "strategy=entropy")
    _, err = second.communicate(timeout=900)
    assert second.returncode == 2
    assert err.strip().splitlines() == [
        f"alrun: error: run folder {folder} is in use by another alrun process (pid {first.pid}); wait for "
        "it to end, or choose another folder (hydra.run.dir=...)"
    ]
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    assert json.loads((folder / "run.json").read_text())["status"] == "finished"
    assert len(pd.read_csv(folder / "metrics.csv")) == 6  # whole rows, the first run's only
    assert "strategy=margin" in (folder / ".hydra" / "overrides.yaml").read_text()
    assert not (folder / LOCK_NAME).exists() and not list(folder.glob(".*.tmp"))


def test_the_lock_names_its_holder_and_refused_guards_undo_only_their_own(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("x")
    held = RunFolderGuard.open(tmp_path / "old")
    with pytest.raises(FolderInUse, match=f"pid {os.getpid()}"):
        RunFolderGuard.open(tmp_path / "old")
    (tmp_path / "old" / "cli.log").write_text("")  # what Hydra adds before the run starts
    held.release()
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["notes.txt"]
    new = RunFolderGuard.open(tmp_path / "a" / "b" / "run")
    sibling = tmp_path / "a" / "b" / "other"
    sibling.mkdir()  # another run's folder, made meanwhile under the parents this guard created
    new.release()
    assert not (tmp_path / "a" / "b" / "run").exists() and sibling.is_dir()


def test_a_full_disk_marks_the_run_failed_naming_the_file_and_leaves_no_temporary_file(
    tmp_path, monkeypatch, make_cfg
):
    from alrun.active.loop import run_loop
    from alrun.run.experiment import build, quiet_lightning

    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and "checkpoint" in os.readlink(
            f"/proc/self/fd/{fd}"
        ):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    folder = tmp_path / "run"
    quiet_lightning()
    exp = build(make_cfg("budget=4", "query_size=2"), folder)
    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device") as info:
        run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers)
    assert info.value.filename == str(folder / "checkpoint.pt")
    status = json.loads((folder / "run.json").read_text())
    assert status["status"] == "failed" and "checkpoint.pt" in status["reason"]
    assert not list(folder.glob(".*.tmp")) and not (folder / "checkpoint.pt").exists()
    assert len(pd.read_csv(folder / "metrics.csv")) == 1  # round 0's row was written before


def test_stale_temporary_files_are_removed_when_a_run_starts(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    stale = [folder / ".checkpoint.pt.12345.tmp", folder / ".run.json.tmp", folder / ".metrics.csv.7.tmp"]
    for path in stale:
        path.write_text("left by a killed run")
    (folder / ".mine.tmp").write_text("not alrun's")
    guard = RunFolderGuard.open(folder)
    guard.commit()
    guard.release()
    assert sorted(p.name for p in folder.iterdir()) == [".mine.tmp"]


@pytest.mark.parametrize(
    ("point", "action", "code"),
    [
        pytest.param(1, "int", 130, marks=pytest.mark.slow),
        (2, "int", 130),
        (3, "term", 143),
        pytest.param(4, "term", 143, marks=pytest.mark.slow),
    ],
)
def test_an_interrupt_during_start_up_is_one_line_and_leaves_no_folder(tmp_path, point, action, code):
    """Ctrl-C or SIGTERM at each stage of start-up: 1 before Hydra composes, 2 once the folder is
    locked (before Hydra writes into it), 3 before the validation phase, 4 once the run is built."""
    folder = tmp_path / "run"
    proc = start(folder, env={"ALRUN_FAULT": f"startup@{point}:{action}"})
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == ["alrun: interrupted" + (" (SIGTERM)" if code == 143 else "")]
    assert not folder.exists()


def test_hydra_full_error_shows_the_traceback_of_the_users_code(tmp_path):
    """The one line alone is in the refusal table (user-import-error); with the variable, the
    traceback comes first, then the same line."""
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "broken.py").write_text("import numpyy\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HYDRA_FULL_ERROR": "1"}
    args = [ALRUN, "model._target_=mypkg.broken.Net", f"hydra.run.dir={tmp_path / 'run'}"]
    full = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert full.returncode == 2
    lines = full.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):" and "import numpyy" in full.stderr
    assert lines[-1].startswith("alrun: error: model: cannot import mypkg.broken.Net: ModuleNotFoundError")
    assert "No module named 'numpyy' (in mypkg/broken.py, line 1)" in lines[-1]
    assert not (tmp_path / "run").exists()
