"""Several processes, one experiment: the ranks of a ``trainer=ddp`` or ``trainer=ddp_cpu`` run.

Rank 0 is the ``alrun`` command itself. Once it has built and checked the whole run (so a refusal comes
before any other process exists), :func:`start` launches ranks ``1..k-1`` as the same command with the
same overrides, pinned to rank 0's run folder (``hydra.run.dir``) with no ``.hydra`` files or log of
their own (``hydra.output_subdir=null``). Under Slurm, ``srun`` starts one task per device instead and
each task is a rank (``SLURM_PROCID``; Lightning's Slurm environment names the first node and the
port); they share the folder the command names or ``outputs/slurm-<job>.<step>``. Every rank joins
one ``torch.distributed`` process group with a timeout on its collectives. Lightning's DDP strategy
finds the group and the ranks in the environment (``LOCAL_RANK``, ``WORLD_SIZE``) and launches nothing
itself. Every rank runs the same loop on the same pool state; only rank 0 writes the run folder. A
rank that fails ends the others: its peers' next collective fails, and rank 0 names the first rank's
reason in ``run.json`` (the ranks Slurm started: ``srun --kill-on-bad-exit=1`` ends them at once)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from alrun.launched import CHILD_OVERRIDES, RANK_ENV, is_child, launched_rank, slurm_launched

TIMEOUT_ENV = "ALRUN_DDP_TIMEOUT"  # seconds a collective waits for a peer (default 300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_command(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The command of a launched rank: rank 0's arguments (``--config-dir`` included, ``resume=``'s
    recorded overrides already in front), in rank 0's run folder."""
    kept = [o for o in overrides if not o.startswith("hydra.run.dir=")]
    return [sys.executable, "-m", "alrun", *kept, f'hydra.run.dir="{run_dir}"', *CHILD_OVERRIDES]


@dataclass
class Ranks:
    """The process group of one run, seen from one rank (rank 0 also holds the other ranks' processes)."""

    size: int
    backend: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)
    saved_env: dict[str, str | None] = field(default_factory=dict)

    def failure(self) -> str | None:
        """``rank R: <its last error line>`` of the first launched rank that exited with an error."""
        for r, proc in enumerate(self.procs, start=1):
            code = proc.poll()
            if code:
                return f"rank {r} stopped (exit code {code}): {self.reasons.get(r, 'no message')}"
        return None

    def close(self, ok: bool, wait_s: float = 60.0) -> None:
        """End the group: rank 0 waits for its ranks (or, when the run failed, ends them)."""
        for proc in self.procs:
            if not ok and proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if dist.is_initialized():
            dist.destroy_process_group()
        for key, value in self.saved_env.items():  # rank 0's environment as it was
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forward(proc: subprocess.Popen[bytes], r: int, ranks: Ranks) -> None:
    """Pass a launched rank's stderr on, keeping its last line (its one-line error)."""
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        sys.stderr.write(f"[rank {r}] {line}\n")
        if line.strip():
            ranks.reasons[r] = line.removeprefix("alrun: ").strip()


def _rank_env(size: int, threads: int, local: int, node: int, address: str) -> dict[str, str]:
    """What Lightning's cluster environment and the OpenMP runtime read of a rank."""
    host, port = address.rsplit(":", 1)
    env = {"MASTER_ADDR": host, "MASTER_PORT": port, "WORLD_SIZE": str(size), "NODE_RANK": str(node)}
    return env | {"OMP_NUM_THREADS": str(threads), "LOCAL_RANK": str(local)}


def _slurm_rank(size: int, threads: int) -> tuple[int, int, dict[str, str]]:
    """This task's rank, local rank and environment when ``srun`` started the ranks: Lightning's
    Slurm environment gives the first node's address and the job's port (``MASTER_*`` when set)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    slurm = SLURMEnvironment()
    me, local, node = slurm.global_rank(), slurm.local_rank(), slurm.node_rank()
    return me, local, _rank_env(size, threads, local, node, f"{slurm.main_address}:{slurm.main_port}")


def _launch_ranks(ranks: Ranks, overrides: Sequence[str], run_dir: Path) -> None:
    """Rank 0 of a run alrun launches: start ranks ``1..size-1`` (rank 0's environment set first)."""
    for r in range(1, ranks.size):
        child_env = os.environ | {"LOCAL_RANK": str(r), RANK_ENV: str(r)}
        proc = subprocess.Popen(
            child_command(overrides, run_dir), env=child_env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        ranks.procs.append(proc)
        threading.Thread(target=_forward, args=(proc, r, ranks), daemon=True).start()


def start(size: int, backend: str, run_dir: Path, overrides: Sequence[str], threads: int) -> Ranks:
    """Launch ranks ``1..size-1`` (on rank 0 of a run alrun launches; under ``srun`` every task is
    a rank already) and join the process group (on every rank)."""
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "300")))
    ranks = Ranks(size, backend)
    if slurm_launched():
        me, local, env = _slurm_rank(size, threads)
    elif is_child():
        me, local, env = launched_rank(), launched_rank(), {}
    else:
        me, local = 0, 0
        env = _rank_env(size, threads, 0, 0, f"127.0.0.1:{_free_port()}") | {RANK_ENV: "0"}
    ranks.saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    if not is_child() and not slurm_launched():
        _launch_ranks(ranks, overrides, run_dir)
    torch.set_num_threads(threads)
    address = os.environ["MASTER_ADDR"] + ":" + os.environ["MASTER_PORT"]
    try:
        if backend == "nccl":
            torch.cuda.set_device(local)
        url = f"tcp://{address}"
        dist.init_process_group(backend, init_method=url, rank=me, world_size=size, timeout=timeout)
    except BaseException:
        ranks.close(ok=False, wait_s=10)
        raise
    return ranks
