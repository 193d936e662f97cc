"""The run folder's guard: one process at a time, and a command that never starts its run leaves no trace.

A run holds an exclusive ``fcntl.flock`` on ``<run>/.alrun.lock`` (holding its pid) from before Hydra
writes anything there until it ends; a second process gets one line naming the holder. Until the run
starts (:meth:`RunFolderGuard.commit`), everything is undone when the command stops: a folder this
process created is removed (with the parent folders it created, when they are empty), and in a folder
that existed, the entries Hydra added (its ``.hydra/`` files, its log file) are removed and the
``.hydra`` files it overwrote get their old bytes back. So a refused command, whatever refused it,
leaves a fresh folder absent and an existing one byte-identical.

In a single run (``RUN`` mode) Hydra calls :class:`RunFolderCallback` before it creates the folder,
so the lock and the record of what was there come first. A sweep's job folders are decided by the
launcher just before the job runs: the job takes the lock when it starts, and a refused job records
its failure in its ``run.json`` (see ``alrun.cli``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alrun.errors import UserError
from alrun.launched import is_child
from alrun.run.atomic import remove_stale_temps
from alrun.run.safety import maybe_die

LOCK_NAME = ".alrun.lock"
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes into its output subdir


class FolderInUse(UserError):
    """Another process holds the run folder's lock."""


class Refused(BaseException):
    """Carries an error out of a Hydra callback, which turns every ``Exception`` into a warning."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _lock(path: Path) -> int:
    """An exclusive lock on ``path`` (created if needed), with this process's pid written in it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            folder = path.parent
            raise FolderInUse(
                f"run folder {folder} is in use by another alrun process (pid {holder}); wait for it to "
                "end, or choose another folder (hydra.run.dir=...)"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@dataclass
class RunFolderGuard:
    """The lock on a run folder, and what to undo if the run never starts.

    Use :meth:`open`; then :meth:`commit` when the run starts writing, and :meth:`release` at the end
    (which first undoes everything when the run never started).
    """

    folder: Path
    fd: int
    created: list[Path] = field(default_factory=list)  # folders this process created, outermost first
    entries: set[str] | None = None  # the folder's top-level names before (None: not recorded)
    files: dict[Path, bytes | None] = field(default_factory=dict)  # bytes before (None: absent)
    committed: bool = False
    released: bool = False

    @classmethod
    def open(cls, folder: Path, hydra_subdir: str | None = None, record: bool = True) -> RunFolderGuard:
        """Lock ``folder`` (creating it), having recorded what is there when ``record``.

        Args:
            folder: the run folder.
            hydra_subdir: Hydra's output subfolder (``.hydra``), whose files are recorded.
            record: record the folder's state, to be restored if the run never starts.
        """
        folder = absolute(folder)
        entries = {p.name for p in folder.iterdir()} if record and folder.is_dir() else None
        names = [Path(hydra_subdir) / n for n in HYDRA_FILES] if hydra_subdir and record else []
        files = {folder / rel: _read(folder / rel) for rel in [*names, Path(LOCK_NAME)]}
        created = _make_folders(folder)
        try:
            fd = _lock(folder / LOCK_NAME)
        except BaseException:
            _remove_created(folder, created)
            raise
        return cls(folder, fd, created, entries if record else None, files)

    def commit(self) -> None:
        """The run starts: from now on it records its own status; temporary files that killed runs
        left behind are removed."""
        self.committed = True
        remove_stale_temps(self.folder)

    def release(self) -> None:
        """Undo everything if the run never started (:meth:`rollback`), then drop the lock."""
        if self.released:
            return
        try:
            if not self.committed:
                self.rollback()
            else:
                (self.folder / LOCK_NAME).unlink(missing_ok=True)  # still locked: no one else has it open
        finally:
            os.close(self.fd)
            self.released = True
            _PENDING.pop(self.folder, None)

    def rollback(self) -> None:
        """Put the folder back as it was before this command (see the module docstring)."""
        if self.created and self.created[-1] == self.folder:
            _remove_created(self.folder, self.created)
            return
        if self.entries is not None:
            for path in self.folder.iterdir():
                if path.name not in self.entries and path.name != LOCK_NAME:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        for path, before in self.files.items():
            if before is None:
                path.unlink(missing_ok=True)
            elif not path.is_file() or path.read_bytes() != before:
                path.write_bytes(before)


def absolute(folder: Path) -> Path:
    """``folder`` as Hydra makes its output folder: absolute and normalised (``os.path.abspath``)."""
    return Path(os.path.abspath(folder))


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones this process created, outermost first."""
    missing: list[Path] = []
    path = folder
    while not path.exists():
        missing.append(path)
        path = path.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another process made it meanwhile: not ours to remove
            continue
        created.append(path)
    return created


def _remove_created(folder: Path, created: list[Path]) -> None:
    """Remove ``folder`` when this process created it, then its created parents while they are empty."""
    if folder in created:
        shutil.rmtree(folder, ignore_errors=True)
    for path in reversed(created):
        if path != folder:
            try:
                path.rmdir()
            except OSError:  # not empty: another run's folder lives there now
                break


_PENDING: dict[Path, RunFolderGuard] = {}  # opened by the callback, not yet taken by the task


def take(folder: Path) -> RunFolderGuard | None:
    """The guard :class:`RunFolderCallback` opened for ``folder``, if any (it is the caller's now)."""
    return _PENDING.pop(absolute(folder), None)


def release_pending() -> None:
    """Release (and so undo) guards whose run never reached alrun's task (start-up failed or was
    interrupted)."""
    for guard in list(_PENDING.values()):
        guard.release()


class RunFolderCallback(Callback):
    """Hydra callback: lock the run folder, recording what is there, before Hydra writes into it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Open the guard of ``hydra.run.dir`` (the same path Hydra is about to create); a rank
        launched by rank 0 (:mod:`alrun.run.launch`) works in rank 0's folder, unguarded."""
        if is_child():
            return
        folder = absolute(Path(str(config.hydra.run.dir)))
        subdir = config.hydra.output_subdir
        try:
            _PENDING[folder] = RunFolderGuard.open(folder, None if subdir is None else str(subdir))
        except (UserError, OSError) as exc:
            raise Refused(exc) from None
        maybe_die("startup", 2)
