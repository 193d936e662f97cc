"""Which rank this process is, as alrun launched it (no heavy imports: the CLI asks before torch loads)."""

from __future__ import annotations

import os

from alrun.errors import ConfigError

RANK_ENV = "ALRUN_RANK"  # set by rank 0 for the ranks it launches (alrun.run.launch)
OUTSIDE_LAUNCHERS = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "RANK")


def launched_rank() -> int:
    """This process's rank as launched by alrun (0 for the command itself)."""
    return int(os.environ.get(RANK_ENV, "0"))


def is_child() -> bool:
    """Whether this process is a rank that another alrun process launched."""
    return launched_rank() > 0


def check_launcher(size: int) -> None:
    """Refuse a run on ``size`` > 1 ranks under an outside launcher (``torchrun``) or inside a Slurm
    job, where Lightning would take the ranks from Slurm's environment: alrun launches its own ranks."""
    if size < 2 or is_child():
        return
    outside = [v for v in OUTSIDE_LAUNCHERS if v in os.environ]
    if outside:
        raise ConfigError(
            f"{outside[0]} is set: alrun launches its own ranks; run `alrun trainer=ddp ...` directly, "
            "not under torchrun"
        )
    if "SLURM_NTASKS" in os.environ:
        raise ConfigError(
            f"trainer.devices={size} inside a Slurm job is not supported yet; use trainer.devices=1 there"
        )
