"""What an acquisition sees (:class:`QueryContext`) and what it returns (:class:`Selection`)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from alrun import collectives
from alrun.strategies.select import top_n


@dataclass
class Selection:
    """The picked candidates (best first), their scores, and the scores of all candidates."""

    index: torch.Tensor
    score: torch.Tensor
    pool_score: torch.Tensor | None = None
    n_scored: int | None = None


@dataclass
class QueryContext:
    """The candidates of one query and lazy, cached ways to get what a strategy needs about them.

    The loop never knows what a strategy needs: the strategy asks this context (log-probabilities
    here; other modules of :mod:`alrun.strategies` derive more through :meth:`cached`).

    Args:
        x: inputs on the inference device: of the candidates, or of the whole pool when ``rows`` says
            which of its rows are the candidates (then chunks are gathered one at a time, so a query
            never copies the whole pool).
        net: the model (any ``nn.Module`` returning logits), in eval mode, on the inference device.
        chunk_size: items per inference chunk.
        tiebreak: the round's tie-break stream (CPU).
        acquisition: the round's stream for stochastic acquisition (CPU).
        labelled_x: inputs of the labelled training items (for strategies that look at them).
        mc_seed: seed of this round's acquisition-time dropout masks.
        rows: rows of ``x`` that are the candidates (``None``: all of ``x``).
    """

    x: torch.Tensor
    net: nn.Module
    chunk_size: int
    tiebreak: torch.Generator
    acquisition: torch.Generator
    labelled_x: torch.Tensor | None = None
    mc_seed: int = 0
    rows: torch.Tensor | None = None
    _cache: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.x.shape[0] if self.rows is None else self.rows.shape[0])

    def chunks(self, x: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """``x`` (the candidates by default) in chunks of ``chunk_size``."""
        if x is None and self.rows is not None:
            for start in range(0, len(self), self.chunk_size):
                yield self.x[self.rows[start : start + self.chunk_size]]
            return
        x = self.x if x is None else x
        for start in range(0, int(x.shape[0]), self.chunk_size):
            yield x[start : start + self.chunk_size]

    def cached(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` once per query; later calls with the same key reuse the result."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def log_probs(self) -> torch.Tensor:
        """``[N, C]`` float64 log-probabilities of the candidates, on the CPU."""
        return self.cached("log_probs", self._log_probs)

    def _log_probs(self) -> torch.Tensor:
        if len(self) == 0:
            return torch.empty(0, 0, dtype=torch.float64)
        with torch.inference_mode():
            return self.map_chunks(lambda c: self.net(c).double().log_softmax(dim=-1).cpu())

    def _chunk(self, start: int) -> torch.Tensor:
        end = start + self.chunk_size
        return self.x[start:end] if self.rows is None else self.x[self.rows[start:end]]

    def map_chunks(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``fn`` over the candidates' chunks, concatenated in pool order (on the CPU). Under several
        ranks each rank computes every k-th chunk and the outputs are gathered, so every rank gets
        what one process computes, chunk by chunk the same arithmetic, at about 1/k of the cost."""
        starts = range(0, len(self), self.chunk_size)
        k, me = collectives.world(), collectives.rank()
        parts = [fn(self._chunk(s)) for i, s in enumerate(starts) if i % k == me]
        if k == 1:
            return torch.cat(parts)
        sizes = [min(self.chunk_size, len(self) - s) for s in starts]
        return collectives.gather_chunks(parts, sizes)


class Acquisition(ABC):
    """A query strategy's choice rule: pick ``n`` candidates of a :class:`QueryContext`."""

    @abstractmethod
    def select(self, ctx: QueryContext, n: int) -> Selection:
        """Return the ``n`` picked candidates (indices into the context), best first."""

    @property
    def name(self) -> str:
        """The strategy's name in messages: the class name in snake case (``least_confidence``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Raise :class:`~alrun.errors.ConfigError` when this rule cannot query with ``net``.

        Called once when the run is built, so a mismatch stops it before the first fit. Any net
        will do by default.

        Args:
            net: the run's classifier.
            name: the strategy name for the message (a wrapper passes its own); :attr:`name` by default.
        """
        return None


class ScoreAcquisition(Acquisition):
    """An acquisition defined by a score alone (higher = more informative); picks the top n.

    ``min_score`` is the lowest score the rule can give (``None``: not known), so wrappers that
    need scores >= 0 (``power_*``) can refuse a setting before the run starts.
    """

    min_score: float | None = None

    @abstractmethod
    def score(self, ctx: QueryContext) -> torch.Tensor:
        """``[N]`` float64 scores of the candidates, higher = query first."""

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The ``n`` best-scored candidates, ties broken by the tie-break stream."""
        scores = self.score(ctx)
        index = top_n(scores, n, ctx.tiebreak)
        return Selection(index, scores[index], scores)
