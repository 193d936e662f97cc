"""What a run leaves in its folder: ``metrics.csv``, ``queries.csv`` and ``run.json``.

Rows are tidy, columns fixed and ordered, and every file is flushed when a round ends, so a
crashed or killed run keeps its partial curve. A write that fails (a full disk) raises an
``OSError`` naming the file, and leaves no temporary file behind (:mod:`alrun.run.atomic`).
"""

from __future__ import annotations

import csv
import io
import math
import os
import signal
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from alrun.run.atomic import naming, write_atomic, write_json_atomic
from alrun.run.safety import deferred_interrupt, die, fault_point, received_signal

METRIC_COLUMNS: tuple[str, ...] = (
    "round",
    "n_labelled",
    "n_val_labelled",
    "test/acc",
    "test/loss",
    "val/acc",
    "val/loss",
    "test/balanced_acc",
    "test/macro_f1",
    "test/ece",
    "test/mc_samples",
    "val/balanced_acc",
    "val/macro_f1",
    "val/ece",
    "train/loss",
    "train/epochs",
    "train/steps",
    "fit_s",
    "eval_s",
    "query_s",
    "total_s",
    "query/n_scored",
    "query/score_mean",
    "query/pool_score_mean",
    "query/pairwise_dist",
    "stop/kappa",
)
TIMING_COLUMNS: tuple[str, ...] = ("fit_s", "eval_s", "query_s", "total_s")
# the columns that the same seed reproduces bit for bit (everything but wall-clock timings)
RESULT_COLUMNS: tuple[str, ...] = tuple(c for c in METRIC_COLUMNS if c not in TIMING_COLUMNS)
QUERY_COLUMNS: tuple[str, ...] = ("round", "pool", "pool_index", "dataset_index", "score", "rank")


def format_value(value: Any) -> str:
    """CSV text of one cell: blank for missing/NaN, repr-exact for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


class CsvTable:
    """Append-only CSV file with a fixed header, flushed after every write.

    Args:
        path: the file; written anew with its header unless ``append`` and it already has one.
        columns: the column order.
        append: keep the rows already in the file (a resumed run, after :func:`rewrite_csv`).
    """

    def __init__(self, path: Path, columns: Iterable[str], append: bool = False) -> None:
        self.path, self.columns = path, tuple(columns)
        fresh = not append or not path.exists() or path.stat().st_size == 0
        with naming(path):
            self._file: TextIO = path.open("w" if fresh else "a", newline="")
        self._writer = csv.writer(self._file)
        self.rows_written = 0
        if fresh:
            with deferred_interrupt(), naming(path):
                self._writer.writerow(self.columns)
                self._flush()

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (missing columns are left blank; unknown keys are an error) and flush."""
        with deferred_interrupt(), naming(self.path):
            for row in rows:
                self._write_row(row)
            self._flush()

    def _write_row(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"{self.path.name} has no columns {sorted(unknown)}")
        cells = [format_value(row.get(c)) for c in self.columns]
        self.rows_written += 1
        if fault_point(f"csv:{self.path.name}", self.rows_written):
            line = ",".join(cells)
            self._file.write(line[: len(line) // 2])  # a torn line, then a hard kill
            self._flush()
            die()
        self._writer.writerow(cells)

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (a failed flush of what is left is an ``OSError`` naming it)."""
        with naming(self.path):
            self._file.close()


def rewrite_csv(path: Path, columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` atomically by a CSV of ``rows`` (used to resume from a checkpoint)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = tuple(columns)
    writer.writerow(columns)
    writer.writerows([format_value(row.get(c)) for c in columns] for row in rows)
    write_atomic(path, buffer.getvalue())


def query_rows(records: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """``queries.csv`` rows of labelling records: one per item, best first."""
    for rec in records:
        items = zip(rec.pool_index, rec.dataset_index, rec.score, strict=True)
        for rank, (p, d, s) in enumerate(items, 1):
            yield {
                "round": rec.round,
                "pool": rec.pool,
                "pool_index": int(p),
                "dataset_index": int(d),
                "score": float(s),
                "rank": rank,
            }


def record_failure(folder: Path, reason: str, status: str = "failed", **facts: Any) -> None:
    """Mark a run that stopped before writing its ``run.json`` (a bad value, a missing file) as
    ``failed`` (or ``interrupted``); a run that got as far as writing one has recorded its own status there.

    Args:
        folder: the run's output folder.
        reason: one line saying what went wrong.
        status: ``failed`` or ``interrupted``.
        facts: more facts for ``run.json`` (the seed).
    """
    path = folder / "run.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {**facts, "status": status, "reason": reason})


class RunFolder:
    """Run observer that writes ``metrics.csv``, ``queries.csv`` and ``run.json`` into a folder.

    Args:
        folder: the run's output folder (Hydra's ``runtime.output_dir``).
        meta: facts about the run for ``run.json`` (seed, config hash, versions, ...).
    """

    def __init__(self, folder: Path, meta: Mapping[str, Any]) -> None:
        self.folder = folder
        self.info: dict[str, Any] = dict(meta)
        self.metrics: CsvTable | None = None
        self.queries: CsvTable | None = None
        self._append = False
        self._restored: tuple[list[dict[str, Any]], list[Any]] | None = None

    def restore(self, rows: list[dict[str, Any]], records: Iterable[Any], info: Mapping[str, Any]) -> None:
        """Resume from a checkpoint's rows: when the run starts, the CSV files are rewritten from
        them (dropping any torn or extra line), so the resumed run appends to exactly what the
        checkpoint covers. Nothing is written before the run starts."""
        self._restored = (list(rows), list(records))
        self.info |= dict(info)
        self._append = True

    def _save(self) -> None:
        write_json_atomic(self.folder / "run.json", self.info)

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Create (or, resuming, rewrite) the CSV files and mark the run ``running``; a file that
        cannot be written marks it ``failed``."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._restored is not None:
                rows, records = self._restored
                rewrite_csv(self.folder / "metrics.csv", METRIC_COLUMNS, rows)
                rewrite_csv(self.folder / "queries.csv", QUERY_COLUMNS, query_rows(records))
            self.metrics = CsvTable(self.folder / "metrics.csv", METRIC_COLUMNS, self._append)
            self.queries = CsvTable(self.folder / "queries.csv", QUERY_COLUMNS, self._append)
            self.info |= {"status": "running", "n_rounds": n_rounds, "reason": None}
            self.info.setdefault("rounds_done", 0)
            self._save()
        except OSError as exc:
            self.run_finished("failed", f"{type(exc).__name__}: {exc}")
            raise

    def labelled(self, records: Iterable[Any]) -> None:
        """Append one ``queries.csv`` row per labelled item, best first."""
        assert self.queries is not None
        self.queries.write(query_rows(records))

    def round_finished(self, row: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        """Append the round's row and record progress in ``run.json``."""
        assert self.metrics is not None
        self.metrics.write([row])
        self.info |= dict(info) | {"rounds_done": int(row["round"]) + 1}
        self._save()

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Close the files and record the final status. When the run failed or was interrupted, a
        file that cannot be written then (a full disk) does not hide why: that error is dropped."""
        if status == "interrupted" and received_signal() == signal.SIGTERM:
            reason = "SIGTERM"
        try:
            for table in (self.metrics, self.queries):
                if table is not None:
                    self._close(table, status)
            self.info |= {"status": status, "reason": reason}
            self._save()
        except OSError:
            if status == "finished":
                raise

    @staticmethod
    def _close(table: CsvTable, status: str) -> None:
        try:
            table.close()
        except OSError:
            if status == "finished":
                raise
