"""Failure safety: writes that Ctrl-C cannot tear, and fault injection for the kill tests.

``ALRUN_FAULT=<point>@<n>`` makes the process kill itself with SIGKILL the ``n``-th time it reaches
``point`` (``fit``, ``query``, ``csv``, ``checkpoint``), so tests can interrupt a run at an exact place
and check that resuming gives the same result as never stopping. ``<point>@<n>:int`` sends SIGINT
instead (a Ctrl-C at that exact place). Unset, it costs one dict lookup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def _hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, _hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def fault_point(point: str, count: int, action: str = "") -> bool:
    """Whether ``ALRUN_FAULT`` asks for ``action`` (``""`` = die) at ``point`` on its ``count``-th visit."""
    spec = os.environ.get("ALRUN_FAULT")
    return bool(spec) and spec == f"{point}@{count}" + (f":{action}" if action else "")


def die() -> None:
    """Kill this process at once, as a power cut or ``kill -9`` would."""
    os.kill(os.getpid(), signal.SIGKILL)


def maybe_die(point: str, count: int) -> None:
    """Die here, or press Ctrl-C here, if ``ALRUN_FAULT`` says so (see the module docstring)."""
    if fault_point(point, count):
        die()
    if fault_point(point, count, "int"):
        os.kill(os.getpid(), signal.SIGINT)
