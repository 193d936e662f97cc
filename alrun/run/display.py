"""The terminal: a live rich progress display of rounds and epochs, and one table row per round.

Everything is printed as plain text, never read as rich markup (a failure reason may hold ``[...]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alrun.run.records import METRIC_COLUMNS
from alrun.training.metrics import NAMES

# the terminal table leaves out the query/* and stop/* columns and the metrics beyond accuracy and
# loss and test/mc_samples (metrics.csv has them), to stay readable
TABLE_COLUMNS = tuple(
    c
    for c in METRIC_COLUMNS
    if not c.startswith(("query/", "stop/")) and c.split("/")[-1] not in (*NAMES, "mc_samples")
)


def _cell(value: Any, width: int) -> str:
    if isinstance(value, float):
        text = "" if math.isnan(value) else (f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}")
    else:
        text = "" if value is None else str(value)
    return text.rjust(width)


class _EpochTicker(pl.Callback):
    """Advances the epoch bar once per real training epoch, on either fit path (the fast path calls
    the epoch-level hooks after every real epoch, as Lightning's loop does)."""

    def __init__(self, display: Display) -> None:
        self.display = display

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.display.epochs_started(max(trainer.max_epochs or 0, 0))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.display.epoch_done()


class Display:
    """Run observer for the terminal.

    Args:
        live: show live progress bars (rounds, epochs); off for CI logs. The per-round table is
            printed either way.
        columns: the table's columns (the ``metrics.csv`` columns but ``query/*``).
        console: where to print (a new rich Console by default).
    """

    def __init__(
        self,
        live: bool = True,
        columns: Sequence[str] = TABLE_COLUMNS,
        console: Console | None = None,
    ) -> None:
        self.live, self.columns = live, tuple(columns)
        self.widths = [max(len(c), 6) for c in self.columns]
        self.console = console or Console(highlight=False, markup=False)
        self.progress: Progress | None = None
        self._rounds: Any = None
        self._epochs: Any = None

    def callbacks(self) -> list[pl.Callback]:
        """Lightning callbacks that drive the epoch bar."""
        return [_EpochTicker(self)] if self.live else []

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Print the table header and start the live bars."""
        header = " ".join(c.rjust(w) for c, w in zip(self.columns, self.widths, strict=True))
        self.console.print(header, style="bold", soft_wrap=True, markup=False)
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self._rounds = self.progress.add_task("rounds", total=n_rounds + 1)
            self._epochs = self.progress.add_task("epochs", total=1)

    def epochs_started(self, max_epochs: int) -> None:
        """Reset the epoch bar for a new fit."""
        if self.progress is not None:
            self.progress.reset(self._epochs, total=max_epochs)

    def epoch_done(self) -> None:
        """Advance the epoch bar."""
        if self.progress is not None:
            self.progress.advance(self._epochs)

    def labelled(self, records: Any) -> None:
        """Nothing to show per labelled item."""

    def round_finished(self, row: dict[str, Any], info: dict[str, Any]) -> None:
        """Print the round's row above the bars and advance the round bar."""
        cells = (_cell(row.get(c), w) for c, w in zip(self.columns, self.widths, strict=True))
        self.console.print(" ".join(cells), soft_wrap=True, markup=False)
        stop = info.get("stopped") or {}
        if stop.get("by", "budget") != "budget":
            self.console.print(
                f"stopped early after round {stop['round']} by {stop['by']}: {stop['reason']}", markup=False
            )
        if self.progress is not None:
            self.progress.advance(self._rounds)

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Stop the live bars and print how the run ended."""
        if self.progress is not None:
            self.progress.stop()
        if status != "finished":
            self.console.print(
                f"run {status}: {reason}", style="red", markup=False, highlight=False, soft_wrap=True
            )
