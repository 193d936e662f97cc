"""Strategies of your own: two scoring functions, a ScoreAcquisition and an Acquisition."""

import torch

from alrun.strategies import Acquisition, QueryContext, ScoreAcquisition, Selection
from alrun.strategies.select import top_n


def entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy, higher = query first. log_probs: [N, C] float64 log-probabilities."""
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def mutual_information(log_probs: torch.Tensor) -> torch.Tensor:
    """BALD's score from T MC-dropout passes: log_probs is [T, N, C] (the config sets mc_samples)."""
    t = log_probs.shape[0]
    mean = torch.logsumexp(log_probs, dim=0) - torch.log(torch.tensor(float(t)))
    return entropy(mean) - entropy(log_probs).mean(dim=0)


class SmallestMargin(ScoreAcquisition):
    """A ScoreAcquisition: score() returns [N] scores; alrun picks the top n, ties broken by seed."""

    def score(self, ctx: QueryContext) -> torch.Tensor:
        top2 = ctx.log_probs().exp().topk(2, dim=1).values
        return -(top2[:, 0] - top2[:, 1])


class ClassBalancedEntropy(Acquisition):
    """An Acquisition: select() picks the batch itself. Here the most uncertain candidates,
    taken in turn from each predicted class, so the batch covers the classes evenly."""

    def select(self, ctx: QueryContext, n: int) -> Selection:
        log_probs = ctx.log_probs()
        scores = entropy(log_probs)
        order = top_n(scores, len(scores), ctx.tiebreak)  # all candidates, most uncertain first
        predicted = log_probs.argmax(dim=1)[order]
        queues = [order[predicted == c] for c in range(log_probs.shape[1])]
        picked: list[int] = []
        depth = 0
        while len(picked) < n:
            picked += [int(q[depth]) for q in queues if depth < len(q)][: n - len(picked)]
            depth += 1
        index = torch.tensor(picked, dtype=torch.int64)
        return Selection(index, scores[index], scores)
