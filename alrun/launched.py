"""Which rank this process is, and who launched it (no heavy imports: the CLI asks before torch loads).

Two launchers start the ranks of one run: alrun itself (rank 0 is the command; it starts ranks
``1..k-1`` with ``ALRUN_RANK`` set, :mod:`alrun.run.launch`), or Slurm's ``srun``, which starts every
rank as the same command, one task per device (``SLURM_PROCID`` is the rank).
"""

from __future__ import annotations

import os
import re

from alrun.errors import ConfigError

RANK_ENV = "ALRUN_RANK"  # set by rank 0 for the ranks it launches (alrun.run.launch)
OUTSIDE_LAUNCHERS = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "RANK")
# what a launched rank adds to rank 0's command: no .hydra files and no log of its own
CHILD_OVERRIDES = ("hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none")


def slurm_tasks() -> int:
    """The tasks of the Slurm job step this process is one of (``srun``); 0 outside a step (a
    batch script's own shell is no step: it has no ``SLURM_STEP_ID``)."""
    if "SLURM_STEP_ID" not in os.environ or "SLURM_PROCID" not in os.environ:
        return 0
    return int(os.environ.get("SLURM_NTASKS", "1"))


def slurm_launched() -> bool:
    """Whether ``srun`` started this process as one of several tasks (so Slurm launched the ranks)."""
    return slurm_tasks() > 1


def launched_rank() -> int:
    """This process's rank: alrun's ``ALRUN_RANK``, else ``SLURM_PROCID`` in a step of several
    tasks, else 0."""
    if RANK_ENV in os.environ:
        return int(os.environ[RANK_ENV])
    return int(os.environ["SLURM_PROCID"]) if slurm_launched() else 0


def is_child() -> bool:
    """Whether this process is a rank other than 0 (it writes nothing: rank 0 holds the run folder)."""
    return launched_rank() > 0


def launched_by_alrun() -> bool:
    """Whether another alrun process launched this one (it then has rank 0's command line)."""
    return int(os.environ.get(RANK_ENV, "0")) > 0


def launcher_job() -> bool:
    """Whether this process is a task of a sweep job that ``hydra/launcher=slurm`` submitted (the
    submitter pinned the job's folder; ``srun alrun -m ...`` by hand would give each task its own)."""
    return slurm_launched() and os.environ.get("SUBMITIT_EXECUTOR") == "slurm"


def slurm_run_dir() -> str | None:
    """The run folder every task of a several-task ``srun`` step shares when the command names none:
    ``outputs/slurm-<job>.<step>`` (a requeued job's step runs again into its own folder)."""
    if not slurm_launched():
        return None
    return f"outputs/slurm-{os.environ.get('SLURM_JOB_ID', 'job')}.{os.environ['SLURM_STEP_ID']}"


def check_slurm_step() -> None:
    """Inside a Slurm job Lightning detects: refuse what its Slurm environment refuses with a
    traceback, several tasks given as ``--ntasks`` without ``--ntasks-per-node``."""
    tasks = int(os.environ.get("SLURM_NTASKS", "1"))
    if tasks > 1 and "SLURM_NTASKS_PER_NODE" not in os.environ:
        raise ConfigError(
            f"the Slurm job has --ntasks={tasks} without --ntasks-per-node, which Lightning refuses: "
            f"use srun --ntasks-per-node=<trainer.devices> --nodes=<trainer.num_nodes>"
        )


def check_launcher(size: int, nodes: int = 1) -> None:
    """Refuse a run on ``size`` > 1 ranks under an outside launcher (``torchrun``), or inside a Slurm
    job whose tasks are not one per rank (Lightning takes the ranks from Slurm's environment there)."""
    if launched_by_alrun():
        return
    if slurm_launched():  # srun started several tasks: they must be this run's ranks (one device too)
        check_slurm_tasks(size, nodes)
        return
    if size < 2:
        return
    outside = [v for v in OUTSIDE_LAUNCHERS if v in os.environ]
    if outside:
        raise ConfigError(
            f"{outside[0]} is set: alrun launches its own ranks; run `alrun trainer=ddp ...` directly, "
            "not under torchrun"
        )
    if "SLURM_NTASKS" in os.environ:
        check_slurm_tasks(size, nodes)
    elif nodes > 1:
        raise ConfigError(
            f"trainer.num_nodes={nodes} runs through Slurm (one task per device: srun --nodes={nodes} "
            f"--ntasks-per-node={size // nodes} alrun ...); alrun launches the ranks of one machine only"
        )


def check_slurm_tasks(size: int, nodes: int) -> None:
    """Inside a Slurm job: ``srun`` must have started one task per rank on ``nodes`` nodes."""
    per_node = size // nodes
    hint = f"srun --nodes={nodes} --ntasks-per-node={per_node} --kill-on-bad-exit=1 alrun ..."
    tasks = slurm_tasks()
    if tasks != size:
        where = f"this step has {tasks} tasks" if tasks else "this is not an srun step"
        raise ConfigError(
            f"trainer.devices={per_node} x trainer.num_nodes={nodes} inside a Slurm job needs one task "
            f"per device ({where}): {hint}"
        )
    nnodes = int(os.environ.get("SLURM_STEP_NUM_NODES", os.environ.get("SLURM_NNODES", str(nodes))))
    if nnodes != nodes:
        raise ConfigError(f"trainer.num_nodes={nodes} but the Slurm step runs on {nnodes} nodes: {hint}")
    given = re.match(r"\d+", os.environ.get("SLURM_NTASKS_PER_NODE", ""))  # "2", or "2(x3)"
    if given and int(given.group()) != per_node:
        raise ConfigError(
            f"trainer.devices={per_node} but the Slurm step has --ntasks-per-node={given.group()}: {hint}"
        )
