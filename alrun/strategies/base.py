"""What an acquisition sees (:class:`QueryContext`) and what it returns (:class:`Selection`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from alrun.strategies.select import top_n

Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Selection:
    """The picked candidates (best first), their scores, and the scores of all candidates."""

    index: torch.Tensor
    score: torch.Tensor
    pool_score: torch.Tensor | None = None


@dataclass
class QueryContext:
    """The candidates of one query and lazy, cached ways to get what a strategy needs about them.

    Args:
        x: inputs of the candidates (the unlabelled items), on the inference device.
        logits: the model's forward pass in eval mode, applied to one chunk.
        chunk_size: items per inference chunk.
        tiebreak: the round's tie-break stream (CPU).
        acquisition: the round's stream for stochastic acquisition (CPU).
    """

    x: torch.Tensor
    logits: Logits
    chunk_size: int
    tiebreak: torch.Generator
    acquisition: torch.Generator
    _cache: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def log_probs(self) -> torch.Tensor:
        """``[N, C]`` float64 log-probabilities of the candidates, on the CPU."""
        if "log_probs" not in self._cache:
            parts = []
            with torch.inference_mode():
                for start in range(0, len(self), self.chunk_size):
                    chunk = self.x[start : start + self.chunk_size]
                    parts.append(self.logits(chunk).double().log_softmax(dim=-1).cpu())
            self._cache["log_probs"] = torch.cat(parts) if parts else torch.empty(0, 0).double()
        return self._cache["log_probs"]


class Acquisition(ABC):
    """A query strategy's choice rule: pick ``n`` candidates of a :class:`QueryContext`."""

    @abstractmethod
    def select(self, ctx: QueryContext, n: int) -> Selection:
        """Return the ``n`` picked candidates (indices into the context), best first."""


class ScoreAcquisition(Acquisition):
    """An acquisition defined by a score alone (higher = more informative); picks the top n."""

    @abstractmethod
    def score(self, ctx: QueryContext) -> torch.Tensor:
        """``[N]`` float64 scores of the candidates, higher = query first."""

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The ``n`` best-scored candidates, ties broken by the tie-break stream."""
        scores = self.score(ctx)
        index = top_n(scores, n, ctx.tiebreak)
        return Selection(index, scores[index], scores)
