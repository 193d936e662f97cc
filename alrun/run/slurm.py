"""``hydra/launcher=slurm``: Hydra's submitit Slurm launcher, with one-line errors.

It is the plugin's ``SlurmLauncher`` (``configs/hydra/launcher/slurm.yaml`` says how jobs are sized and
requeued) with these differences:

* Without Slurm's ``sbatch`` and ``srun`` on ``PATH`` it stops before submitting anything, with one line
  and exit code 2, instead of submitit's ``Could not detect "srun"`` traceback.
* A job that ends without a result (cancelled, killed at its time limit with no requeue left, out of
  memory) is a failed job of the sweep, not a traceback: every other job is still waited for, and the
  sweep then exits with one line naming the Slurm job, its state and its log.
* A job of several tasks (``tasks_per_node`` = ``trainer.devices``, ``nodes`` = ``trainer.num_nodes``)
  is one run on several ranks: every task runs the job, and the tasks other than rank 0 write no
  ``.hydra`` files and no log into its folder (:data:`alrun.launched.CHILD_OVERRIDES`).
* SIGTERM (preemption, ``scancel --signal=TERM``, the end of a time limit) interrupts the job's run as it
  interrupts ``alrun``: the current write finishes, the run is marked ``interrupted``, the job exits
  with 143 and leaves no result, so a preempted job's requeued run resumes it. submitit alone ignores
  SIGTERM, and the run went on until Slurm's SIGKILL. While submitit's requeue signal (USR2) is being
  handled SIGTERM is ignored, since the requeue it asks for sends one.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from alrun.errors import ConfigError, RunFailed
from alrun.launched import CHILD_OVERRIDES, is_child
from alrun.run.safety import exit_interrupted, install_signal_handlers

COMMANDS = ("sbatch", "srun")  # submitit submits with sbatch and runs each job through srun


def check_slurm_commands() -> None:
    """Raise :class:`ConfigError` naming the Slurm commands missing from ``PATH``."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise ConfigError(
            f"hydra/launcher=slurm needs Slurm's {' and '.join(missing)} on PATH (not found here); run it "
            "on a Slurm login node, or use hydra/launcher=submitit_local or joblib on this machine"
        )


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """The submitit plugin's Slurm launcher, checked before submitting and without tracebacks after."""

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        """Refuse a machine without Slurm before the sweep writes anything (Hydra calls this first)."""
        check_slurm_commands()
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def __call__(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> JobReturn:
        """Run one job in a Slurm task (the plugin's), as a rank that writes nothing unless rank 0."""
        extra = list(CHILD_OVERRIDES) if is_child() else []
        interrupt_on_sigterm()
        try:
            return super().__call__([*sweep_overrides, *extra], *args, **kwargs)
        except KeyboardInterrupt:  # Ctrl-C's or SIGTERM's, recorded in run.json by the run
            exit_interrupted()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit the sweep as one array job and wait for every job (see the module docstring)."""
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        submitit_launcher.log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        params = []
        for idx, overrides in enumerate(job_overrides, initial_job_idx):
            submitit_launcher.log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            params.append(
                (list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state())
            )
        jobs = self.executor().map_array(self, *zip(*params, strict=True))
        return [_result(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)]

    def executor(self) -> Any:
        """The submitit executor, parametrised from the config as the plugin does it."""
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
        return executor


def interrupt_on_sigterm() -> None:
    """In a Slurm job: SIGTERM and SIGINT interrupt the run (see the module docstring), except while
    submitit's requeue signal handler runs."""
    from submitit import JobEnvironment

    requeue_signal = JobEnvironment._usr_sig()
    requeue = signal.getsignal(requeue_signal)
    install_signal_handlers()
    if not callable(requeue):
        return

    def on_requeue_signal(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # `scontrol requeue` sends one: let it finish
        requeue(signum, frame)

    signal.signal(requeue_signal, on_requeue_signal)


def _result(job: Any, overrides: Sequence[str]) -> JobReturn:
    """The job's ``JobReturn``; a failed one carrying one line when the job left no usable result."""
    from submitit.core.utils import UncompletedJobError

    try:
        ret: JobReturn = job.results()[0]
    except UncompletedJobError:
        ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
        ret.return_value = RunFailed(
            f"Slurm job {job.job_id} ({','.join(overrides)}) ended {job.state} without a result "
            f"(its log: {job.paths.stderr})"
        )
        return ret
    if ret.status == JobStatus.FAILED and isinstance(ret._return_value, UncompletedJobError):
        reason = " ".join(str(ret._return_value).split())  # submitit gave up requeueing it
        ret.return_value = RunFailed(f"Slurm job {job.job_id} ({','.join(overrides)}): {reason}")
    return ret
