"""What a run's logger already holds, read back from its own files, so a resumed run appends to it
rather than logging a step twice.

A run killed at any instant (``kill -9`` included) resumes from its last checkpoint and runs the
unfinished round again; its logger may already hold part of that round (epochs, even its row, when
the kill came after the logger's flush and before the checkpoint). Rounds are bit-reproducible, so
what is logged again is what was logged before: :class:`Logged` keeps, per metric, the last step the
logger's files hold, and lets only later steps through. Each known logger is read back its own way:
CSV from its ``metrics.csv`` (a torn last line dropped), TensorBoard through its ``EventAccumulator``,
MLflow through its client on the run's file store.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger

HPARAMS_FILE = "hparams.yaml"  # Lightning's CSV and TensorBoard loggers write the hyperparameters here


@dataclass
class Logged:
    """The last step each metric was logged at, and whether the hyperparameters were."""

    steps: dict[str, int] = field(default_factory=dict)
    hparams: bool = False

    def new(self, metrics: Mapping[str, float], step: int, prefix: str = "") -> dict[str, float]:
        """The part of ``metrics`` not logged at ``step`` or later yet; it counts as logged from now.
        ``prefix``: what the logger puts before each name in its files (its ``prefix`` setting)."""
        fresh = {k: v for k, v in metrics.items() if step > self.steps.get(prefix + k, -1)}
        self.steps |= {prefix + k: step for k in fresh}
        return fresh

    def add(self, key: str, step: int) -> None:
        """Record that the logger's files hold ``key`` at ``step``."""
        self.steps[key] = max(step, self.steps.get(key, -1))


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a CSVLogger's ``metrics.csv`` (a last line without its newline is torn)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [row for row in csv.DictReader(lines) if None not in row and row.get("step")]


def open_csv(logger: CSVLogger) -> Logged:
    """Start a CSVLogger on its folder, keeping the rows already there.

    Lightning's writer deletes an existing ``metrics.csv`` when it starts; the file is moved aside
    first (an atomic rename: a kill at any instant leaves the rows in one of the two files) and its
    rows are written back through the new writer.
    """
    path = Path(logger.log_dir) / "metrics.csv"
    kept = path.with_name("metrics.csv.resume")
    if path.is_file():
        os.replace(path, kept)
    rows = read_csv_rows(kept)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        writer = logger.experiment
    if rows:
        writer.metrics = [dict(row) for row in rows]
        writer.save()
    kept.unlink(missing_ok=True)
    logged = Logged(hparams=(Path(logger.log_dir) / HPARAMS_FILE).is_file())
    for row in rows:
        for key, value in row.items():
            if key != "step" and value != "":
                logged.add(key, int(float(row["step"])))
    return logged


def read_tensorboard(logger: TensorBoardLogger) -> Logged:
    """The scalars in a TensorBoardLogger's event files (all of them: a resumed run adds one)."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    logged = Logged(hparams=(Path(logger.log_dir) / HPARAMS_FILE).is_file())
    if not Path(logger.log_dir).is_dir():
        return logged
    events = EventAccumulator(logger.log_dir, size_guidance={SCALARS: 0})
    events.Reload()
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            logged.add(tag, event.step)
    return logged


def mlflow_run_id(tracking_uri: str, experiment_name: str) -> str | None:
    """The id of the run already in a run folder's MLflow store (``None`` for a new folder)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], max_results=1)
    return runs[0].info.run_id if runs else None


def read_mlflow(logger: MLFlowLogger) -> Logged:
    """The metric histories and parameters of the logger's MLflow run."""
    client, run_id = logger.experiment, logger.run_id
    assert run_id is not None
    data = client.get_run(run_id).data
    logged = Logged(hparams=bool(data.params))
    for key in data.metrics:
        for metric in client.get_metric_history(run_id, key):
            logged.add(key, metric.step)
    return logged


def start(logger: Logger) -> Logged:
    """Open ``logger`` on its files and say what they hold; a logger alrun cannot read back (a
    user's own) counts as empty, so a resumed run may log its unfinished round a second time."""
    if isinstance(logger, CSVLogger):
        return open_csv(logger)
    if isinstance(logger, TensorBoardLogger):
        return read_tensorboard(logger)
    if isinstance(logger, MLFlowLogger):
        return read_mlflow(logger)
    return Logged()


def stored_prefix(logger: Logger) -> str:
    """What a Lightning logger puts before each metric name (``prefix`` and its join character)."""
    prefix = str(getattr(logger, "_prefix", "") or "")
    return prefix + str(getattr(logger, "LOGGER_JOIN_CHAR", "-")) if prefix else ""


def known(logger: Any) -> bool:
    """Whether :func:`start` reads ``logger``'s files back."""
    return isinstance(logger, CSVLogger | TensorBoardLogger | MLFlowLogger)
