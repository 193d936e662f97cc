"""Round checkpoints: what a run folder needs to continue as if it had never stopped.

After every round the folder gets ``checkpoint.pt``: the Strategy's resumable state (round, pools,
weights, snapshot: :class:`~alrun.active.resume.ResumeState`), the stopping rules' state, the metric
rows and labelling records so far, the resolved config, a hash of the data it was made on and
Hydra's ``.hydra`` files. It is written through a temporary file and a rename, so a kill at any
instant leaves the old or the new checkpoint. Random streams need no saving: each is a pure function
of ``(seed, name, round)``.

Reading one never runs code (``weights_only``), and anything but an alrun checkpoint (random bytes,
an empty or truncated file, a pickle of objects, other keys) is one :class:`CheckpointError` line.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from alrun.active.pool import QueryRecord
from alrun.config.checks import NON_RESULT_KEYS
from alrun.errors import UserError
from alrun.run.atomic import write_bytes_atomic
from alrun.run.safety import maybe_die

FILENAME = "checkpoint.pt"
IGNORED_KEYS = NON_RESULT_KEYS
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # the only names ever put back


class CheckpointError(UserError):
    """The folder's checkpoint is not one alrun can resume from."""


@dataclass
class RunState:
    """Everything a resumed run restores."""

    config: dict[str, Any]
    strategy: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    records: list[QueryRecord] = field(default_factory=list)
    hydra_files: dict[str, str] = field(default_factory=dict)
    finished: bool = False
    stopping: dict[str, Any] = field(default_factory=dict)
    data_hash: str = ""  # of the data the run was made on (:func:`alrun.data.tensors.fingerprint`)

    @property
    def rounds_done(self) -> int:
        """Rounds whose row is complete."""
        return len(self.rows)


def save(folder: Path, state: RunState) -> None:
    """Write ``folder/checkpoint.pt`` atomically (Ctrl-C and SIGTERM wait until the rename is done)."""
    payload = _tensors(asdict(state) | {"records": [asdict(r) for r in state.records]})
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(
        folder / FILENAME, buffer.getvalue(), before_rename=lambda: maybe_die("checkpoint", state.rounds_done)
    )


def damaged(path: Path, reason: str) -> CheckpointError:
    """The one line for a checkpoint alrun cannot resume from."""
    return CheckpointError(f"{path} is damaged ({reason}); move it away to start again")


def load(folder: Path) -> RunState | None:
    """The checkpoint in ``folder``, or ``None`` when there is none.

    Raises:
        CheckpointError: the file is not an alrun checkpoint (unreadable, not plain data, other keys).
    """
    path = folder / FILENAME
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # plain data only: no pickled code
    except Exception as exc:
        raise damaged(path, _load_problem(exc)) from None
    try:
        return _state(payload)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise damaged(path, " ".join(str(exc).split())[:200]) from None


def _load_problem(exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in a few words."""
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if "Weights only load failed" in str(exc) and "Unsupported global" in str(exc):
        return "it holds pickled objects, not plain data; it was not loaded"
    if "Weights only load failed" in str(exc):
        return f"not a checkpoint file: {type(exc).__name__}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"cannot read it: {type(exc).__name__}{': ' + first[:160] if first else ''}"


_TYPES: dict[str, type | tuple[type, ...]] = {
    "config": dict,
    "strategy": dict,
    "rows": list,
    "records": list,
    "hydra_files": dict,
    "finished": bool,
    "data_hash": str,
}


def _state(payload: Any) -> RunState:
    """A :class:`RunState` from a loaded checkpoint, checked key by key."""
    if not isinstance(payload, dict):
        raise TypeError(f"it holds a {type(payload).__name__}, not an alrun checkpoint")
    names = {f.name for f in fields(RunState)}
    if set(payload) == names - {"data_hash"}:
        raise KeyError("written by an older alrun, without the hash of its data")
    if set(payload) != names:
        missing, extra = sorted(names - set(payload)), sorted(map(str, set(payload) - names))
        raise KeyError(f"not an alrun checkpoint: missing keys {missing}, unknown keys {extra}")
    for key, kind in _TYPES.items():
        if not isinstance(payload[key], kind):
            raise TypeError(f"{key} is a {type(payload[key]).__name__}")
    if not all(isinstance(r, dict) for r in payload["rows"]):
        raise TypeError("rows are not all tables of metrics")
    records = [QueryRecord(**_arrays(r)) if isinstance(r, dict) else r for r in payload["records"]]
    if not all(isinstance(r, QueryRecord) for r in records):
        raise TypeError("records are not all labelling records")
    return RunState(**payload | {"records": records})


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
    """The texts of Hydra's three files in ``folder/.hydra`` (to put back if a changed-config resume
    of a sweep job is refused)."""
    hydra_dir = folder / ".hydra"
    return {n: (hydra_dir / n).read_text() for n in HYDRA_FILES if (hydra_dir / n).is_file()}


def restore_hydra_files(folder: Path, files: Mapping[str, Any]) -> None:
    """Put back the ``.hydra`` files that Hydra overwrote when a refused command started: only
    Hydra's three file names, only text, only inside ``folder/.hydra`` (a crafted checkpoint can
    name no other file)."""
    for name in HYDRA_FILES:
        text = files.get(name)
        if isinstance(text, str) and (folder / ".hydra").is_dir():
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
        stopping: the run's :class:`~alrun.active.stopping.Stopping`, whose state is saved too.
    """

    def __init__(self, folder: Path, source: Resumable, state: RunState, stopping: Any = None) -> None:
        self.folder, self.source, self.state, self.stopping = folder, source, state, stopping

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Nothing to save before the first round is complete."""

    def labelled(self, records: Any) -> None:
        """Keep the labelling records for the next checkpoint."""
        self.state.records.extend(records)

    def round_finished(self, row: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        """Save the state after the round."""
        self.state.rows.append(dict(row))
        self.state.strategy = self.source.state_dict()
        self.state.stopping = self.stopping.state_dict() if self.stopping is not None else {}
        save(self.folder, self.state)

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Mark the checkpoint finished, so running the same command again does nothing."""
        if status == "finished":
            self.state.finished = True
            save(self.folder, self.state)
