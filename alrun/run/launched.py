"""Which rank this process is, as alrun launched it (no heavy imports: the CLI asks before torch loads)."""

from __future__ import annotations

import os

RANK_ENV = "ALRUN_RANK"  # set by rank 0 for the ranks it launches (alrun.training.distributed)


def launched_rank() -> int:
    """This process's rank as launched by alrun (0 for the command itself)."""
    return int(os.environ.get(RANK_ENV, "0"))


def is_child() -> bool:
    """Whether this process is a rank that another alrun process launched."""
    return launched_rank() > 0
