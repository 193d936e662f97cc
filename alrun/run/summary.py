"""What the terminal says around a run: where its files go, and one line when it is done.

``run folder: PATH`` is printed when a run starts; ``done: ...`` (final test accuracy, AUBC, wall
time, folder) when it finishes. A sweep prints its folder when it starts and when it ends
(:class:`SweepFolder`, a Hydra callback named in ``configs/hydra/default.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class RunSummary:
    """Run observer that keeps the curve (``n_labelled``, ``test/acc``) for the closing line.

    Args:
        budget: labels acquired after the initial set (the AUBC's width).
        rows: rows of earlier rounds (a resumed run's checkpoint).
    """

    def __init__(self, budget: int, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.budget = budget
        self.curve = [(float(r["n_labelled"]), float(r["test/acc"])) for r in rows]
        self.stopped_by: str | None = None  # a stopping rule that ended the run early

    def run_started(self, plan: Any, n_rounds: int) -> None:
        """Nothing to do."""

    def labelled(self, records: Sequence[Any]) -> None:
        """Nothing to do."""

    def round_finished(self, row: dict[str, Any], info: dict[str, Any]) -> None:
        """Keep the round's point of the curve (and the rule that stopped the run, if one did)."""
        self.curve.append((float(row["n_labelled"]), float(row["test/acc"])))
        stop = info.get("stopped") or {}
        if stop.get("by", "budget") != "budget":
            self.stopped_by = str(stop["by"])

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """Nothing to do (the line is printed by the caller, after the live display has stopped)."""

    def line(self, run_dir: Path, wall_s: float) -> str:
        """``done: test/acc 0.9560 at 200 labels, AUBC 0.8820, 35.2 s wall, <folder>`` (a run stopped
        early: ``stopped by <rule>``, its AUBC over the labels it spent)."""
        from alrun.report.stats import aubc

        n, acc = zip(*self.curve, strict=True) if self.curve else ((), ())
        area = aubc(n, acc, None if self.stopped_by else self.budget or None)
        final = f"test/acc {acc[-1]:.4f} at {int(n[-1])} labels" if acc else "no rounds"
        early = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
        return f"done: {final}{early}, AUBC {area:.4f}, {wall_s:.1f} s wall, {run_dir}"


class SweepFolder(Callback):
    """Hydra callback: prints the sweep folder when a sweep (``alrun -m``) starts and ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """``sweep folder: PATH``."""
        print(f"sweep folder: {sweep_dir(config)}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """``sweep done: PATH (alrun-report PATH summarises it)``."""
        folder = sweep_dir(config)
        print(f"sweep done: {folder} (alrun-report {folder} summarises it)", flush=True)


def sweep_dir(config: DictConfig) -> Path:
    """The sweep's folder, absolute."""
    return Path(str(config.hydra.sweep.dir)).resolve()
