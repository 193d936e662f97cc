"""Writes that readers never see half done: a per-process temporary file, fsync, a rename.

Ctrl-C and SIGTERM wait for the rename; a write that fails (a full disk) removes its temporary file
and raises an ``OSError`` that names the file it was writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alrun.run.safety import deferred_interrupt


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Make an ``OSError`` raised inside the block name ``path`` (a full disk's error names no file)."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def temp_path(path: Path) -> Path:
    """The temporary file ``path`` is written through: ``.<name>.<pid>.tmp``, one per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


TEMP_NAME = re.compile(r"\.(metrics\.csv|queries\.csv|run\.json|checkpoint\.pt)(\.\d+)?\.tmp")


def remove_stale_temps(folder: Path) -> None:
    """Remove the temporary files that killed runs left in ``folder`` (call it holding the folder's lock)."""
    for path in folder.glob(".*.tmp"):
        if TEMP_NAME.fullmatch(path.name):
            path.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes, before_rename: Any = None) -> None:
    """Write ``data`` to ``path`` through a per-process temporary file, fsync and a rename: readers see
    the old or the new file, never half of one; Ctrl-C and SIGTERM wait for the rename; a failed write
    removes the temporary file and raises an ``OSError`` naming ``path``.

    Args:
        path: the file.
        data: its new content.
        before_rename: called between the fsync and the rename (the kill tests' fault point).
    """
    tmp = temp_path(path)
    with deferred_interrupt(), naming(path):
        try:
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if before_rename is not None:
                before_rename()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` atomically (see :func:`write_atomic`)."""
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
