"""A run on several ranks, seen from the run: who launches, who writes, and why it failed.

The process group itself is :mod:`alrun.run.launch`'s. Here: the checks made before the
other ranks start (the Python API and an outside launcher are refused), the backend, and the
observer that puts the first failing rank's reason into ``run.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from omegaconf import DictConfig

from alrun.errors import ConfigError, RunFailed
from alrun.launched import is_child, slurm_launched
from alrun.messages import describe
from alrun.run import launch
from alrun.run.launch import Ranks


def backend(cfg: DictConfig) -> str:
    """``nccl`` when the run's Trainer uses CUDA devices, else ``gloo`` (CPU ranks)."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "nccl" if on_gpu else "gloo"


def threads_per_rank(cfg: DictConfig, size: int) -> int:
    """Torch threads of each rank: ``threads`` when a number, else (``auto``, ``null``) Slurm's CPUs
    per task, or this machine's cores shared out among its ranks."""
    value = cfg.get("threads")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if slurm_launched() and os.environ.get("SLURM_CPUS_PER_TASK"):  # srun --cpus-per-task
        return max(1, int(os.environ["SLURM_CPUS_PER_TASK"]))
    here = size // max(1, int(cfg.trainer.get("num_nodes") or 1))  # the ranks on this machine
    return max(1, (os.cpu_count() or 1) // here)  # auto and null: each rank's share of the cores


def start_ranks(cfg: DictConfig, run_dir: Path, size: int, overrides: Sequence[str] | None) -> Ranks:
    """Launch (rank 0) or join (the others) the run's ``size`` ranks.

    Raises:
        ConfigError: called without the command's overrides (the Python API).
    """
    if overrides is None:
        raise ConfigError(
            f"trainer.devices={size} runs through the alrun command (it launches the ranks); "
            "use trainer.devices=1 in the Python API"
        )
    return launch.start(size, backend(cfg), run_dir, overrides, threads_per_rank(cfg, size))


class FirstReason:
    """An observer that passes events on, naming a failed launched rank's reason when the run fails."""

    def __init__(self, inner: Any, ranks: Ranks, wait_s: float = 5.0) -> None:
        self.inner, self.ranks, self.wait_s = inner, ranks, wait_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """``failed`` with the first failed rank's reason when another rank failed first."""
        if status == "failed":
            reason = self.other_rank_failure() or reason
        self.inner.run_finished(status, reason)

    def other_rank_failure(self) -> str | None:
        """The reason of a launched rank that has stopped with an error (waiting a little for it;
        not at all for ranks Slurm started, whose reasons only their own stderr holds). A signal
        during the wait ends the wait: the run's status is still recorded."""
        deadline = time.monotonic() + (self.wait_s if self.ranks.procs else 0.0)
        try:
            while (failure := self.ranks.failure()) is None and time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (srun ends the other tasks of a failed one)
            return self.ranks.failure()
        return failure


def rank_observers(observers: list[Any], group: Ranks | None) -> list[Any]:
    """What this rank tells of the run: everything on one rank; on several, rank 0 alone writes (and
    names the first failed rank's reason), the launched ranks tell nothing."""
    if group is None:
        return observers
    return [] if is_child() else [FirstReason(o, group) for o in observers]


def peer_lost(exc: BaseException) -> bool:
    """Whether a collective failed because a peer rank went away (gloo or NCCL said so)."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or (
        isinstance(exc, RuntimeError) and any(word in text for word in ("gloo", "NCCL", "by peer"))
    )


def run_on_ranks(exp: Any, observers: list[Any], start_round: int, group: Ranks | None) -> dict[str, Any]:
    """``run_loop`` of the :class:`~alrun.run.experiment.Experiment` ``exp`` (its stopping rules
    included) on this rank; with several ranks the group ends with it, and a failure that another
    rank caused is a :class:`RunFailed` naming that rank."""
    from alrun.active.loop import run_loop

    ok = False
    try:
        row = run_loop(exp.strategy, exp.make_trainer, exp.plan, observers, start_round, exp.stopping)
        ok = True
    except Exception as exc:
        failure = group.failure() if group is not None else None
        if failure:
            raise RunFailed(failure) from exc
        if group is not None and peer_lost(exc):  # a rank Slurm started has stopped
            raise RunFailed(
                f"another rank stopped; its error is in the job's output ({describe(exc)})"
            ) from exc
        raise
    finally:
        if group is not None:
            group.close(ok)
    return row
