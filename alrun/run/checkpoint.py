"""Round checkpoints: what a run folder needs to continue as if it had never stopped.

After every round the folder gets ``checkpoint.pt``: the Strategy's resumable state (round, pools,
weights, snapshot: :class:`~alrun.active.resume.ResumeState`), the metric rows and labelling records
so far, the resolved config and Hydra's ``.hydra`` files. It is written through a temporary file and
a rename, so a kill at any instant leaves the old or the new checkpoint. Random streams need no
saving: each is a pure function of ``(seed, name, round)``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from alrun.active.pool import QueryRecord
from alrun.config.checks import NON_RESULT_KEYS
from alrun.run.safety import deferred_interrupt, maybe_die

FILENAME = "checkpoint.pt"
IGNORED_KEYS = NON_RESULT_KEYS


@dataclass
class RunState:
    """Everything a resumed run restores."""

    config: dict[str, Any]
    strategy: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    records: list[QueryRecord] = field(default_factory=list)
    hydra_files: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    @property
    def rounds_done(self) -> int:
        """Rounds whose row is complete."""
        return len(self.rows)


def save(folder: Path, state: RunState) -> None:
    """Write ``folder/checkpoint.pt`` atomically (Ctrl-C waits until the rename is done)."""
    payload = _tensors(asdict(state) | {"records": [asdict(r) for r in state.records]})
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path, tmp = folder / FILENAME, folder / f".{FILENAME}.tmp"
    with deferred_interrupt():
        with tmp.open("wb") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        maybe_die("checkpoint", state.rounds_done)
        os.replace(tmp, path)


def load(folder: Path) -> RunState | None:
    """The checkpoint in ``folder``, or ``None`` when there is none."""
    path = folder / FILENAME
    if not path.is_file():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)  # plain data only: no pickled code
    payload["records"] = [QueryRecord(**_arrays(r)) for r in payload["records"]]
    return RunState(**payload)


def _tensors(obj: Any) -> Any:
    """``obj`` with every NumPy array turned into a tensor (what ``weights_only`` loading accepts)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        return {k: _tensors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_tensors(v) for v in obj]
    return obj


def _arrays(record: Mapping[str, Any]) -> dict[str, Any]:
    """A saved record's fields with its tensors back as NumPy arrays."""
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in record.items()}


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for a nested mapping."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable ``key: old -> new`` lines for the keys that change results."""
    a, b = flatten(old), flatten(new)
    keys = sorted(k for k in a.keys() | b.keys() if k.split(".")[0] not in IGNORED_KEYS)
    return [
        f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys if a.get(k) != b.get(k)
    ]


def read_hydra_files(folder: Path) -> dict[str, str]:
    """The texts of ``folder/.hydra/*.yaml`` (to put back if a changed-config resume is refused)."""
    hydra_dir = folder / ".hydra"
    return {p.name: p.read_text() for p in sorted(hydra_dir.glob("*.yaml"))} if hydra_dir.is_dir() else {}


def restore_hydra_files(folder: Path, files: Mapping[str, str]) -> None:
    """Put back ``.hydra`` files that Hydra overwrote when a refused command started."""
    for name, text in files.items():
        (folder / ".hydra" / name).write_text(text)


class Resumable(Protocol):
    """The owner of a Strategy's resumable state (:class:`~alrun.active.resume.ResumeState`)."""

    def state_dict(self) -> dict[str, Any]:
        """The state to save, as plain tensors and containers."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a saved state."""


class Checkpointer:
    """Run observer that saves a checkpoint after every round (and marks it finished at the end).

    Args:
        folder: the run folder.
        source: the owner of the Strategy's resumable state (its ``state_dict()`` is saved).
        state: the run state to extend (fresh, or loaded from a checkpoint to resume).
    """

    def __init__(self, folder: Path, source: Resumable, state: RunState) -> None:
        self.folder, self.source, self.state = folder, source, state

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Nothing to save before the first round is complete."""

    def labelled(self, records: Any) -> None:
        """Keep the labelling records for the next checkpoint."""
        self.state.records.extend(records)

    def round_finished(self, row: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        """Save the state after the round."""
        self.state.rows.append(dict(row))
        self.state.strategy = self.source.state_dict()
        save(self.folder, self.state)

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Mark the checkpoint finished, so running the same command again does nothing."""
        if status == "finished":
            self.state.finished = True
            save(self.folder, self.state)
