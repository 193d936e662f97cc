"""What ``run.json`` records about the code and the machine a run was made with."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import lightning
import torch
from omegaconf import DictConfig, OmegaConf

import alrun
from alrun.run.threads import openmp_wait_in_use

ARITHMETIC = ("threads", "cpu_capability", "openmp_wait", "git_commit", "versions")
"""The ``run.json`` facts that decide a process's float arithmetic (or the code it ran)."""


def git_commit() -> str | None:
    """The commit of alrun's source checkout, when it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(alrun.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def run_meta(cfg: DictConfig) -> dict[str, Any]:
    """Facts for ``run.json``: seed, config hash, versions, commit, the CPU kernels torch uses."""
    text = OmegaConf.to_yaml(cfg, resolve=True)
    return {
        "seed": int(cfg.seed),
        "config_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
        "versions": {
            "alrun": alrun.__version__,
            "torch": torch.__version__,
            "lightning": lightning.__version__,
            "python": platform.python_version(),
        },
        "git_commit": git_commit(),
        # ATen's CPU kernels (e.g. AVX512 or AVX2) give different last bits: compare runs of one kind
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "openmp_wait": openmp_wait_in_use(),  # timings only: results do not depend on it
    }


def earlier_processes(run_dir: Path) -> list[dict[str, Any]]:
    """For a resume: the processes that ran ``run_dir`` before, read from its ``run.json`` (the list it
    holds, then the last process): the rounds each started at and reached, and its :data:`ARITHMETIC`
    facts, so a resumed run made with other threads, kernels or code says so. Empty when unreadable."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(info, dict):
        return []
    earlier = info.get("earlier_processes")
    last = {"from_round": info.get("resumed_at_round", 0), "to_round": info.get("rounds_done")}
    return [*(earlier if isinstance(earlier, list) else []), last | {k: info.get(k) for k in ARITHMETIC}]
