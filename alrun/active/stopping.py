"""Stopping a run before its budget is spent: the :class:`Stopping` owner and its rules' interface.

``run_loop`` consults :meth:`Stopping.check` once per round, after the round's model is trained and
evaluated and before its query: when a rule says stop, that round is the run's last (nothing more
is labelled), the run ends ``finished`` and ``run.json`` records ``stopped = {by, round, reason}``
(``by: budget`` for a run that spent its budget). Rules keep whatever they need across rounds in
their state, which the checkpoint saves, so a resumed run stops where the uninterrupted one would.
The rules themselves are in :mod:`alrun.active.stop_rules` (config group ``stopping``, composable:
``stopping=[target_val_acc,stable_predictions]``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alrun.active.strategy import Strategy


@dataclass(frozen=True)
class Stop:
    """Why and when a run stopped: the rule's name (``budget`` when the budget is spent), the last
    round, and one line of reason."""

    by: str
    round: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The ``stopped`` entry of ``run.json``."""
        return {"by": self.by, "round": self.round, "reason": self.reason}


@dataclass
class RoundView:
    """What a rule sees of the round being checked.

    Attributes:
        round: the round (its model is trained and evaluated; its query has not been made).
        row: the round's ``metrics.csv`` values so far (evaluation, ``fit_s``, ``eval_s``).
        last_query: the ``query/*`` values of the previous round's query (empty at round 0).
        elapsed_s: the run's time so far: the earlier rounds' ``total_s`` plus this round's fit and
            evaluation (it carries over a resume, and leaves out start-up and checkpoint writing).
        strategy: the run's Strategy (its net in eval mode on the inference device).
    """

    round: int
    row: Mapping[str, Any]
    last_query: Mapping[str, Any]
    elapsed_s: float
    strategy: Strategy


class StopRule(ABC):
    """One stopping criterion."""

    def setup(self, strategy: Strategy, name: str) -> None:
        """Refuse a run this rule cannot watch (a :class:`~alrun.errors.ConfigError`), before any fit."""
        return None

    @abstractmethod
    def check(self, view: RoundView) -> str | None:
        """A one-line reason to stop after this round, or ``None`` to go on."""

    def values(self) -> dict[str, float]:
        """``metrics.csv`` values of the last check (``stop/kappa``); none by default."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What the rule carries across rounds (saved in the checkpoint)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        return None


@dataclass
class Stopping:
    """The run's stopping rules (any number, each under its config name), consulted every round.

    Every rule is checked every round (so each keeps its own history); the first rule, in config
    order, that says stop names the stop.
    """

    rules: dict[str, StopRule] = field(default_factory=dict)
    spent_s: float = 0.0
    last_query: dict[str, Any] = field(default_factory=dict)

    def setup(self, strategy: Strategy) -> None:
        """Let every rule refuse the run before anything is fitted."""
        for name, rule in self.rules.items():
            rule.setup(strategy, name)

    def check(self, strategy: Strategy, round_: int, row: dict[str, Any]) -> Stop | None:
        """Check every rule after ``round_``'s evaluation; their values are added to ``row``."""
        elapsed = self.spent_s + float(row.get("fit_s", 0.0)) + float(row.get("eval_s", 0.0))
        view = RoundView(round_, dict(row), dict(self.last_query), elapsed, strategy)
        stop = None
        for name, rule in self.rules.items():
            reason = rule.check(view)
            row |= rule.values()
            if reason is not None and stop is None:
                stop = Stop(name, round_, reason)
        return stop

    def round_finished(self, row: Mapping[str, Any]) -> None:
        """Remember the finished round's time and query for the next check."""
        self.spent_s += float(row.get("total_s", 0.0))
        self.last_query = {k: v for k, v in row.items() if str(k).startswith("query/")}

    def state_dict(self) -> dict[str, Any]:
        """The owner's and every rule's state (saved in the checkpoint after each round)."""
        rules = {name: rule.state_dict() for name, rule in self.rules.items()}
        return {"spent_s": self.spent_s, "last_query": dict(self.last_query), "rules": rules}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (an empty state leaves a fresh owner)."""
        self.spent_s = float(state.get("spent_s", 0.0))
        self.last_query = dict(state.get("last_query", {}))
        for name, rule in self.rules.items():
            rule.load_state_dict(state.get("rules", {}).get(name, {}))
