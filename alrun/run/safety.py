"""Failure safety: Ctrl-C and SIGTERM, writes that they cannot tear, and fault injection for the kill tests.

SIGTERM (what ``kill``, Slurm and containers send) is treated like Ctrl-C: once
:func:`install_signal_handlers` ran, either raises where the program is (a :class:`Terminated` is a
``KeyboardInterrupt``, so every handler of Ctrl-C handles it), a write inside :func:`deferred_interrupt`
finishes first, and :func:`received_signal` says which signal it was (the exit code is ``128 + signal``:
130 for Ctrl-C, 143 for SIGTERM).

``ALRUN_FAULT=<point>@<n>`` makes the process kill itself with SIGKILL the ``n``-th time it reaches
``point`` (``fit``, ``query``, ``csv``, ``checkpoint``; ``startup@1`` to ``@4``: before Hydra
composes, once the folder is locked, before the validation phase, once the run is built), so tests
can interrupt a run at an exact place and check that resuming gives the same result as never
stopping. ``<point>@<n>:int`` sends SIGINT instead (a Ctrl-C at that exact place),
``<point>@<n>:term`` SIGTERM, ``<point>@<n>:stop`` SIGSTOP (the process waits there for SIGCONT).
In a run on several ranks, ``ALRUN_FAULT_RANK=<r>`` limits the fault to rank ``r``.
Unset, it costs one dict lookup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

from alrun.launched import launched_rank

HANDLED = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the signals that interrupted this process, in order


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where a Ctrl-C's ``KeyboardInterrupt`` would be."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def install_signal_handlers() -> None:
    """Make SIGINT and SIGTERM raise (``KeyboardInterrupt``, :class:`Terminated`) and be remembered.

    A signal the process inherited as ignored (a job started with ``nohup`` or in the background)
    stays ignored. Only the main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _interrupt)


def received_signal() -> int | None:
    """The last SIGINT or SIGTERM this process received through its handlers, or ``None``."""
    return _received[-1] if _received else None


def interrupt_exit_code() -> int:
    """``128 + signal``: 143 after SIGTERM, 130 after Ctrl-C (also when no signal was recorded)."""
    return 128 + (received_signal() or signal.SIGINT)


def interrupt_name() -> str:
    """``SIGTERM`` or ``SIGINT`` (Ctrl-C): what stopped the run."""
    return signal.Signals(received_signal() or signal.SIGINT).name


def exit_interrupted() -> NoReturn:
    """Say ``alrun: interrupted`` (naming SIGTERM) on stderr and exit with :func:`interrupt_exit_code`."""
    name = interrupt_name()
    print("alrun: interrupted" + (f" ({name})" if name != "SIGINT" else ""), file=sys.stderr)
    sys.exit(interrupt_exit_code())


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM until the block ends, then act on them as they would have."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def _hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[int, Any] = {s: signal.signal(s, _hold) for s in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler installed outside Python, which cannot be put back
                signal.signal(signum, handler)
    for signum in caught[:1]:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        elif handler != signal.SIG_IGN:
            signal.raise_signal(signum)  # the default action


def fault_point(point: str, count: int, action: str = "") -> bool:
    """Whether ``ALRUN_FAULT`` asks for ``action`` (``""`` = die) at ``point`` on its ``count``-th visit."""
    spec = os.environ.get("ALRUN_FAULT")
    if not spec:
        return False
    only = os.environ.get("ALRUN_FAULT_RANK")  # several ranks: the fault of this rank only
    if only is not None and only != str(launched_rank()):
        return False
    return bool(spec) and spec == f"{point}@{count}" + (f":{action}" if action else "")


def die() -> None:
    """Kill this process at once, as a power cut or ``kill -9`` would."""
    os.kill(os.getpid(), signal.SIGKILL)


def maybe_die(point: str, count: int) -> None:
    """Die here, press Ctrl-C here or send SIGTERM here, if ``ALRUN_FAULT`` says so (see the module
    docstring)."""
    if "ALRUN_FAULT" not in os.environ:
        return
    if fault_point(point, count):
        die()
    for action, signum in (("int", signal.SIGINT), ("term", signal.SIGTERM), ("stop", signal.SIGSTOP)):
        if fault_point(point, count, action):
            os.kill(os.getpid(), signum)
