"""``hydra/launcher=joblib``: Hydra's joblib launcher, kept going when one of its workers is killed.

When a worker process dies (``kill -9``, the out-of-memory killer), joblib kills the other workers
too and aborts the sweep. This launcher then sets aside the jobs that were running (their folders
hold the lock file of a process that is gone), runs the jobs that were not, and then each set-aside
job on its own: one that was only killed along with the others resumes from its checkpoint; one
whose worker dies again, alone, is marked ``failed`` in its ``run.json`` with the reason. The sweep
then ends with one line naming it (exit 1); running the same command again resumes it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as HydraJoblibLauncher

from alrun.errors import RunFailed
from alrun.run.atomic import write_json_atomic
from alrun.run.guard import LOCK_NAME

log = logging.getLogger(__name__)


def lost(folder: Path, wait_s: float = 10.0) -> bool:
    """Whether ``folder`` holds the lock file of a run whose process is gone: its lock comes free
    within ``wait_s`` (the workers joblib kills take a moment to die)."""
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False  # a live process holds it
                time.sleep(0.1)
    finally:
        os.close(fd)


def mark_lost(folder: Path, reason: str) -> None:
    """Record in ``folder/run.json`` that the job's worker was killed, and drop its stale lock file."""
    path = folder / "run.json"
    try:
        info = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        info = {}
    write_json_atomic(path, {**info, "status": "failed", "reason": reason})
    (folder / LOCK_NAME).unlink(missing_ok=True)


class JoblibLauncher(HydraJoblibLauncher):
    """Hydra's ``JoblibLauncher`` (same settings) that survives the loss of a worker (module docstring)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run the jobs; after a killed worker, run the others, then each job that was running alone."""
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        self._first = initial_job_idx
        returns: dict[int, JobReturn] = {}
        pending, suspects = list(range(len(job_overrides))), []
        while pending:
            try:
                returns |= dict(zip(pending, self._run(job_overrides, pending), strict=True))
                pending = []
            except TerminatedWorkerError:
                running = [i for i in pending if lost(self._job_folder(job_overrides[i]))]
                if not running:
                    raise
                suspects += running
                pending = [i for i in pending if i not in running]
        for i in suspects:
            try:
                returns[i] = self._run(job_overrides, [i])[0]
            except TerminatedWorkerError as exc:
                returns[i] = self._lost(job_overrides[i], exc)
        return [returns[i] for i in range(len(job_overrides))]

    def _run(self, job_overrides: Sequence[Sequence[str]], index: list[int]) -> list[Any]:
        """The jobs ``index`` in joblib workers (as Hydra's launcher runs them, with their own numbers)."""
        from hydra.core.singleton import Singleton
        from hydra_plugins.hydra_joblib_launcher import _core
        from joblib import Parallel, delayed

        if index == list(range(len(job_overrides))):
            return list(_core.launch(launcher=self, job_overrides=job_overrides, initial_job_idx=self._first))
        settings = dict(self.joblib) | {"backend": "loky"}
        _core.process_joblib_cfg(settings)
        state = Singleton.get_state()
        run = delayed(_core.execute_job)
        return list(
            Parallel(**settings)(
                run(
                    self._first + i,
                    job_overrides[i],
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    state,
                )
                for i in index
            )
        )

    def _lost(self, overrides: Sequence[str], exc: BaseException) -> JobReturn:
        """Mark the job whose worker died even when it ran alone; its failed job return."""
        folder = self._job_folder(overrides)
        why = " ".join(str(exc).split()[:12])
        reason = f"its sweep worker process was killed ({why} ...); run the sweep again to resume it"
        mark_lost(folder, reason)
        log.warning("sweep job %s: %s", folder.name, reason)
        error = RunFailed(f"sweep job {folder.name}: {reason}")
        return JobReturn(overrides=list(overrides), status=JobStatus.FAILED, _return_value=error)

    def _job_folder(self, overrides: Sequence[str]) -> Path:
        assert self.hydra_context is not None and self.config is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        before = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(cfg)
        try:
            return Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        finally:
            HydraConfig.instance().cfg = before
