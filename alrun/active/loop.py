"""The loop driver: initial set, then rounds of train -> evaluate -> query_and_update -> reset_model.

``run_loop`` takes objects, not a config, so tests call it directly. It never looks at which
strategy it runs; everything strategy-specific sits behind ``Strategy.query_and_update``. Whether
to stop before the budget is spent is the :class:`~alrun.active.stopping.Stopping` owner's call,
asked once per round between evaluation and query.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerStatus

from alrun.active.invariants import check_finished, check_round, check_separation
from alrun.active.pool import QueryRecord
from alrun.active.query_metrics import query_metrics
from alrun.active.stopping import Stop, Stopping
from alrun.active.strategy import Strategy


@dataclass(frozen=True)
class Plan:
    """The labelling schedule of a run.

    Args:
        budget: labels acquired after the initial set.
        query_size: labels per round (the last round may be partial).
        initial_size: labels in the initial set.
        initial: ``random`` or ``balanced`` initial set.
        val_size: validation labels, acquired once before the first round.
    """

    budget: int
    query_size: int
    initial_size: int
    initial: str = "random"
    val_size: int = 0

    def query_sizes(self) -> list[int]:
        """Labels acquired by each round's query; they add up to ``budget`` exactly."""
        full, rest = divmod(self.budget, self.query_size)
        return [self.query_size] * full + ([rest] if rest else [])


class RunObserver(Protocol):
    """Receives the events of a run (files, terminal display)."""

    def run_started(self, plan: Plan, n_rounds: int) -> None:
        """The run begins; ``n_rounds`` queries will follow the initial set."""

    def labelled(self, records: Sequence[QueryRecord]) -> None:
        """Items were labelled (initial set, validation set or a query)."""

    def round_finished(self, row: dict[str, Any], info: dict[str, Any]) -> None:
        """A round's metrics row is complete; ``info`` carries run facts such as the device."""

    def run_finished(self, status: str, reason: str | None = None) -> None:
        """The run ended: ``finished``, ``failed`` or ``interrupted``."""


def fit(strategy: Strategy, trainer: pl.Trainer) -> None:
    """``trainer.fit(strategy)``, with Ctrl-C kept a ``KeyboardInterrupt``.

    Lightning turns a Ctrl-C during fit into ``sys.exit(1)`` and ignores SIGINT from then on; the
    run must instead be marked interrupted and exit with 130, with Ctrl-C working again.
    """
    previous = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(strategy)
    except SystemExit:
        if trainer.state.status != TrainerStatus.INTERRUPTED:
            raise
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        raise KeyboardInterrupt from None


def _train_round(
    strategy: Strategy, make_trainer: Callable[[], pl.Trainer], query_size: int, stopping: Stopping | None
) -> tuple[dict[str, Any], list[QueryRecord], Stop | None]:
    start = perf_counter()
    round_ = strategy.round
    row: dict[str, Any] = {
        "round": round_,
        "n_labelled": strategy.train_pool.n_labelled,
        "n_val_labelled": strategy.val_pool.n_labelled if strategy.val_pool is not None else 0,
    }
    fit(strategy, make_trainer())
    fitted = perf_counter()
    row |= strategy.evaluate() | strategy.fit_metrics()
    evaluated = perf_counter()
    row |= {"fit_s": fitted - start, "eval_s": evaluated - fitted}
    stop = stopping.check(strategy, round_, row) if stopping is not None else None
    if not query_size:  # the budget is spent: that is why the run ends, whatever a rule says
        stop = Stop("budget", round_, "budget spent")
    records = [strategy.query_and_update(query_size)] if stop is None else []
    queried = perf_counter()
    if records:  # after the last round nothing trains again: its model is kept, not reset
        row |= query_metrics(strategy.train_pool, records[0])
        strategy.reset_model()
    row |= {"query_s": queried - evaluated, "total_s": perf_counter() - start}
    return row, records, stop


def run_loop(
    strategy: Strategy,
    make_trainer: Callable[[], pl.Trainer],
    plan: Plan,
    observers: Sequence[RunObserver] = (),
    start_round: int = 0,
    stopping: Stopping | None = None,
) -> dict[str, Any]:
    """Run a whole active-learning experiment and return the last round's row.

    Args:
        strategy: the Strategy module holding pools, model and acquisition.
        make_trainer: builds a fresh Lightning ``Trainer`` for each round's fit.
        plan: the labelling schedule.
        observers: receive the run's events (CSV files, run.json, checkpoints, terminal display).
            The last round's ``info`` holds ``stopped``: ``{by, round, reason}``.
        start_round: first round to run; above 0 the strategy's state was restored from a checkpoint
            taken after round ``start_round - 1``.
        stopping: rules that may end the run before its budget is spent (restored with the
            strategy when resuming); ``None``: only the budget ends it.
    """
    sizes = plan.query_sizes()
    for obs in observers:
        obs.run_started(plan, len(sizes))
    try:
        if start_round == 0:
            initial = strategy.label_initial(plan.initial_size, plan.initial, plan.val_size)
            check_separation(strategy)
            for obs in observers:
                obs.labelled(initial)
        row: dict[str, Any] = {}
        spent = sum(sizes[:start_round])
        for i in range(start_round, len(sizes) + 1):
            row, records, stop = _train_round(
                strategy, make_trainer, sizes[i] if i < len(sizes) else 0, stopping
            )
            if records:
                check_round(strategy, sizes, records)
                spent += sizes[i]
            if stopping is not None:
                stopping.round_finished(row)
            info: dict[str, Any] = {"device": str(strategy.inference_device)}
            if stop is not None:
                info["stopped"] = stop.as_dict()
            for obs in observers:
                obs.labelled(records)
                obs.round_finished(row, info)
            if stop is not None:
                break
        check_finished(strategy, plan.initial_size, spent)
    except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C, or an exit asked for (submitit's requeue)
        reason = "KeyboardInterrupt" if isinstance(exc, KeyboardInterrupt) else f"SystemExit({exc.code})"
        for obs in observers:
            obs.run_finished("interrupted", reason)
        raise
    except BaseException as exc:
        for obs in observers:
            obs.run_finished("failed", f"{type(exc).__name__}: {exc}")
        raise
    for obs in observers:
        obs.run_finished("finished")
    return row
