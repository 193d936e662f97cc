"""Several processes, one experiment: the ranks of a ``trainer=ddp`` or ``trainer=ddp_cpu`` run.

Rank 0 is the ``alrun`` command itself. Once it has built and checked the whole run (so a refusal comes
before any other process exists), :func:`start` launches ranks ``1..k-1`` as the same command with the
same overrides, pinned to rank 0's run folder (``hydra.run.dir``) with no ``.hydra`` files or log of
their own (``hydra.output_subdir=null``), and every rank joins one ``torch.distributed`` process group
with a timeout on its collectives. Lightning's DDP strategy finds the group and the ranks in the
environment (``LOCAL_RANK``, ``WORLD_SIZE``) and launches nothing itself. Every rank runs the same loop
on the same pool state; only rank 0 writes the run folder. A rank that fails ends the others: its
peers' next collective fails, and rank 0 names the first rank's reason in ``run.json``.
"""

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

from alrun.launched import RANK_ENV, is_child, launched_rank

TIMEOUT_ENV = "ALRUN_DDP_TIMEOUT"  # seconds a collective waits for a peer (default 300)
CHILD_OVERRIDES = ("hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none")


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


def start(size: int, backend: str, run_dir: Path, overrides: Sequence[str], threads: int) -> Ranks:
    """Launch ranks ``1..size-1`` (on rank 0) and join the process group (on every rank)."""
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "300")))
    ranks = Ranks(size, backend)
    if is_child():
        me, address = launched_rank(), os.environ["MASTER_ADDR"] + ":" + os.environ["MASTER_PORT"]
    else:
        me, address = 0, f"127.0.0.1:{_free_port()}"
        host, port = address.split(":")
        env = {"MASTER_ADDR": host, "MASTER_PORT": port, "WORLD_SIZE": str(size), "NODE_RANK": "0"}
        env |= {"OMP_NUM_THREADS": str(threads), "LOCAL_RANK": "0", RANK_ENV: "0"}
        ranks.saved_env = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        for r in range(1, size):
            child_env = os.environ | {"LOCAL_RANK": str(r), RANK_ENV: str(r)}
            proc = subprocess.Popen(
                child_command(overrides, run_dir), env=child_env, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            ranks.procs.append(proc)
            threading.Thread(target=_forward, args=(proc, r, ranks), daemon=True).start()
    torch.set_num_threads(threads)
    try:
        if backend == "nccl":
            torch.cuda.set_device(me)
        url = f"tcp://{address}"
        dist.init_process_group(backend, init_method=url, rank=me, world_size=size, timeout=timeout)
    except BaseException:
        ranks.close(ok=False, wait_s=10)
        raise
    return ranks
