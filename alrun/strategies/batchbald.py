"""BatchBALD (Kirsch, van Amersfoort & Gal 2019): greedy maximisation of the batch's joint mutual information.

Step ``k`` adds the candidate ``x`` that maximises ``I(y_1..y_{k-1}, y_x; ω) = H(y_1..y_{k-1}, y_x) -
sum_i E_t H(p_t(y_i))``. With MC samples ``t = 1..T`` and the batch's label configurations ``y`` (one
class per picked item), ``P_t(y) = prod_i p_t(y_i)`` and ``P(y) = mean_t P_t(y)``; writing
``r_y(t) = P_t(y) / sum_t' P_t'(y)`` (the posterior over samples given ``y``), the joint entropy is

    H(Y, Y_x) = H(Y) + sum_y w_y H(q_y),    q_y(c) = sum_t r_y(t) p_t(y_x = c),

with ``w_y = P(y)`` over every configuration while there are at most ``max_configs`` of them, and
``w_y = 1/M`` over ``M`` configurations sampled from ``P`` beyond that (stratified over t, drawn from
the acquisition stream, redrawn whenever the batch grows). Everything stays in float64 and in log
space where products of many probabilities would underflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from alrun.config.checks import check_bool, check_int
from alrun.strategies import scores
from alrun.strategies.base import Acquisition, QueryContext, Selection
from alrun.strategies.samples import check_source, require_samples, sample_log_probs
from alrun.strategies.select import top_n

CHUNK_ELEMENTS = 1 << 22  # float64 values of q per chunk of candidates (32 MiB)


@dataclass(frozen=True)
class JointState:
    """The label configurations of the batch so far.

    Args:
        log_joint: ``[K, T]`` log-probability of each configuration under each MC sample.
        weight: ``[K]`` weight of each configuration in the joint-entropy sum.
        entropy: ``H(Y)`` of the batch (exact, or the sample estimate).
        exact: whether the configurations are enumerated (else sampled).
    """

    log_joint: torch.Tensor
    weight: torch.Tensor
    entropy: float
    exact: bool

    @staticmethod
    def empty(samples: int) -> JointState:
        """The empty batch: one configuration of probability 1."""
        return JointState(
            torch.zeros(1, samples, dtype=torch.float64), torch.ones(1, dtype=torch.float64), 0.0, True
        )

    def extend(self, log_probs_x: torch.Tensor) -> JointState:
        """Every configuration times every class of one more item (``log_probs_x``: ``[T, C]``).

        Configurations of probability 0 are dropped: they add nothing to any entropy.
        """
        lj = (self.log_joint[:, None, :] + log_probs_x.T[None, :, :]).reshape(-1, self.log_joint.shape[1])
        log_p = torch.logsumexp(lj, dim=1) - math.log(lj.shape[1])
        keep = log_p > -math.inf
        lj, log_p = lj[keep], log_p[keep]
        return JointState(lj, log_p.exp(), scores.entropy(log_p[None]).item(), True)

    @staticmethod
    def sampled(log_probs_batch: torch.Tensor, count: int, generator: torch.Generator) -> JointState:
        """About ``count`` configurations of the batch (``[T, n, C]``) drawn from ``P``, as many per t."""
        t_count, n, c = log_probs_batch.shape
        per_t = -(-count // t_count)
        rows = log_probs_batch.exp().repeat_interleave(per_t, dim=0)  # [M, n, C], t = m // per_t
        y = torch.multinomial(rows.reshape(-1, c), 1, generator=generator).reshape(-1, n)
        lj = log_probs_batch[:, torch.arange(n)[None, :], y].sum(dim=-1).T  # [M, T]
        log_p = torch.logsumexp(lj, dim=1) - math.log(t_count)
        return JointState(lj, torch.full_like(log_p, 1.0 / len(log_p)), -log_p.mean().item(), False)

    def joint_entropies(self, probs: torch.Tensor) -> torch.Tensor:
        """``H(Y, Y_x)`` for every candidate ``x`` of ``probs`` (``[T, N, C]``), in chunks of candidates."""
        t_count, n, c = probs.shape
        k = self.log_joint.shape[0]
        r = torch.softmax(self.log_joint, dim=1)
        step = max(1, CHUNK_ELEMENTS // (k * c))
        out = []
        for start in range(0, n, step):
            part = probs[:, start : start + step]
            q = (r @ part.reshape(t_count, -1)).reshape(k, -1, c)
            out.append(self.weight @ -torch.special.xlogy(q, q).sum(dim=-1))
        return self.entropy + torch.cat(out)


def batchbald(
    log_probs: torch.Tensor,
    n: int,
    tiebreak: torch.Generator,
    generator: torch.Generator,
    max_configs: int = 1000,
    config_samples: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Greedy BatchBALD batch of ``n`` candidates of ``[T, N, C]`` float64 log-probabilities.

    Returns:
        ``(index, gain, bald)``: the picks in order, each pick's gain in joint mutual information (the
        first is its BALD score; while configurations are enumerated the gains sum to the batch's joint
        MI), and every candidate's BALD score.
    """
    first = scores.bald(log_probs)
    if not 0 <= n <= len(first):
        raise ValueError(f"cannot pick {n} of {len(first)} candidates")
    probs, cond = log_probs.exp(), scores.entropy(log_probs).mean(dim=0)
    state = JointState.empty(log_probs.shape[0])
    picked: list[int] = []
    gains: list[float] = []
    for k in range(n):
        if picked:  # I(batch + x) - I(batch) = H(Y_x | Y_batch) - E_t H(p_t(y_x))
            step = (state.joint_entropies(probs) - state.entropy - cond).clamp_min(0.0)
        else:
            step = first.clone()
        step[picked] = -math.inf
        pick = int(top_n(step, 1, tiebreak).item())
        picked.append(pick)
        gains.append(step[pick].item())
        if k + 1 < n:
            state = _grow(state, log_probs, picked, max_configs, config_samples, generator)
    return torch.tensor(picked, dtype=torch.long), torch.tensor(gains, dtype=torch.float64), first


def _grow(
    state: JointState,
    log_probs: torch.Tensor,
    picked: list[int],
    max_configs: int,
    config_samples: int,
    generator: torch.Generator,
) -> JointState:
    if state.exact and state.log_joint.shape[0] * log_probs.shape[2] <= max_configs:
        return state.extend(log_probs[:, picked[-1]])
    return JointState.sampled(log_probs[:, picked], config_samples, generator)


class BatchBald(Acquisition):
    """BatchBALD on consistent MC-dropout samples or ensemble members; scores in ``queries.csv`` are
    the joint-MI gains.

    Args:
        mc_samples: T, the number of MC-dropout passes (``source=dropout``).
        consistent: one dropout mask per pass for the whole pool (what the joint entropy assumes).
        max_configs: enumerate the batch's label configurations exactly while there are at most this many.
        config_samples: configurations sampled beyond that (rounded up to a multiple of T).
        source: ``auto``, ``dropout`` or ``members`` (see :mod:`~alrun.strategies.samples`).
    """

    def __init__(
        self,
        mc_samples: int = 20,
        consistent: bool = True,
        max_configs: int = 1000,
        config_samples: int = 1000,
        source: str = "auto",
    ) -> None:
        self.mc_samples = check_int("strategy.mc_samples", mc_samples, 1)
        self.consistent = check_bool("strategy.consistent", consistent)
        self.source = check_source(source)
        self.max_configs = check_int("strategy.max_configs", max_configs, 1)
        self.config_samples = check_int("strategy.config_samples", config_samples, 1)

    @property
    def name(self) -> str:
        """``batchbald``."""
        return "batchbald"

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Refuse a net that cannot give the samples (no dropout layers, or no members)."""
        require_samples(net, self.source, name or self.name, self.consistent)

    def select(self, ctx: QueryContext, n: int) -> Selection:
        """The greedy BatchBALD batch, best first."""
        lp = sample_log_probs(ctx, self.source, self.mc_samples, self.consistent)
        index, gain, bald = batchbald(
            lp, n, ctx.tiebreak, ctx.acquisition, self.max_configs, self.config_samples
        )
        return Selection(index, gain, bald)
