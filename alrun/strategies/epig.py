"""EPIG, expected predictive information gain (Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth,
AISTATS 2023, arXiv:2304.08151).

For a candidate ``x`` and target inputs ``x*_1..x*_M`` from the target distribution,

    EPIG(x) = (1/M) sum_m sum_{y, y*} p(y, y*) log [p(y, y*) / (p(y) p(y*))],
    p(y, y*) = (1/T) sum_t p_t(y | x) p_t(y* | x*_m),    p(y) = (1/T) sum_t p_t(y | x),

the mutual information between the candidate's label and a target's label, averaged over targets.
The T samples are ensemble members or MC-dropout passes with consistent masks (sample t is one
sub-network for candidates and targets alike, which the joint needs). Everything is float64, from
log-probabilities: the marginals are log-sum-exps over samples, and so is the joint, with each factor
shifted by its maximum over samples, ``log p(y, y*) = a_y + b_{y*} - log T + log sum_t exp(α_t,y − a_y)
exp(β_t,y* − b_{y*})`` (``α``, ``β`` the log-probabilities, ``a``, ``b`` their maxima), the sum over t
being one matrix product. Candidates are taken in chunks, so memory is O((N + M)·C·T) for the samples
plus one ``[n, C, M, C]`` chunk.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alrun.config.checks import check_int
from alrun.errors import ConfigError
from alrun.strategies import scores
from alrun.strategies.base import QueryContext, ScoreAcquisition
from alrun.strategies.samples import check_source, require_samples, sample_log_probs

CHUNK_ELEMENTS = 1 << 20  # float64 values of one chunk's [n, C, M, C] joint (8 MiB)


def _shifted(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(exp(lp - max_t lp), max_t lp)`` for ``[T, K, C]`` log-probabilities (max 0 where all are -inf)."""
    top = log_probs.max(dim=0).values
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return (log_probs - top).exp(), top


def epig(pool: torch.Tensor, targets: torch.Tensor, chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """EPIG of every candidate: ``[T, N, C]`` and ``[T, M, C]`` float64 log-probabilities -> ``[N]``.

    The mutual information of a candidate and a target is ``H(p(y)) + H(p(y*)) - H(p(y, y*))`` (the
    joint's marginals are the two mean predictions); each is clamped at 0 (rounding can go below)
    before averaging over targets.
    """
    if pool.dtype != torch.float64 or targets.dtype != torch.float64:
        raise TypeError("EPIG needs float64 log-probabilities")
    if pool.ndim != 3 or targets.ndim != 3 or pool.shape[::2] != targets.shape[::2]:
        raise ValueError(
            f"EPIG needs [T, N, C] and [T, M, C], got {tuple(pool.shape)}, {tuple(targets.shape)}"
        )
    t, n, c = pool.shape
    m = targets.shape[1]
    if m == 0:
        raise ValueError("EPIG needs at least one target")
    eb, b = _shifted(targets)
    eb, b = eb.reshape(t, m * c), b[None, None]  # b: [1, 1, M, C]
    h_targets = scores.entropy(torch.logsumexp(targets, dim=0) - math.log(t))  # [M]
    h_pool = scores.entropy(torch.logsumexp(pool, dim=0) - math.log(t))  # [N]
    step = max(1, chunk_elements // (m * c * c))
    out = []
    for start in range(0, n, step):
        ea, a = _shifted(pool[:, start : start + step])
        k = ea.shape[1]
        joint_sum = (ea.reshape(t, k * c).T @ eb).reshape(k, c, m, c)  # sum_t of the shifted products
        log_joint = joint_sum.log_().add_((a - math.log(t))[:, :, None, None]).add_(b)  # [k, C, M, C]
        plogp = log_joint.exp().mul_(log_joint).masked_fill_(log_joint == -math.inf, 0.0)
        mi = h_pool[start : start + k, None] + h_targets[None] + plogp.sum(dim=(1, 3))
        out.append(mi.clamp_min(0.0).mean(dim=1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def load_targets(path: str) -> torch.Tensor:
    """Target inputs from a ``.npy`` or ``.pt`` file (one row per target, in the model's input space)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"strategy.targets={path!r}: no such file (allowed: pool, or a .npy / .pt file of inputs)"
        )
    if file.suffix == ".npy":
        x = torch.from_numpy(np.load(file, allow_pickle=False))
    elif file.suffix in (".pt", ".pth"):
        x = torch.load(file, map_location="cpu", weights_only=True)
    else:
        raise ConfigError(f"strategy.targets={path!r}: unknown file type (allowed: .npy, .pt)")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        raise ConfigError(f"strategy.targets={path!r}: not a non-empty array of inputs [M, ...]")
    return x.float() if x.is_floating_point() else x


class Epig(ScoreAcquisition):
    """EPIG: the candidates whose labels tell most about the labels of target inputs.

    Args:
        mc_samples: T, the number of MC-dropout passes (``source=dropout``; masks are always consistent).
        source: ``auto``, ``dropout`` or ``members`` (see :mod:`~alrun.strategies.samples`).
        n_targets: targets per query, drawn without replacement by the round's acquisition stream
            (all of them when the target set is smaller).
        targets: ``pool`` (targets drawn from the unlabelled candidates), a ``.npy`` / ``.pt`` file of
            target inputs, or a tensor of them.
    """

    def __init__(
        self,
        mc_samples: int = 20,
        source: str = "auto",
        n_targets: int = 100,
        targets: str | torch.Tensor = "pool",
    ) -> None:
        self.mc_samples = check_int("strategy.mc_samples", mc_samples, 1)
        self.source = check_source(source)
        self.n_targets = check_int("strategy.n_targets", n_targets, 1)
        self.target_x: torch.Tensor | None = None
        if isinstance(targets, torch.Tensor):
            self.target_x = targets
        elif targets != "pool":
            self.target_x = load_targets(str(targets))

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Refuse a net that cannot give the samples, or target inputs that do not fit it."""
        require_samples(net, self.source, name or self.name, consistent=True)
        if self.target_x is None:
            return
        training = net.training
        try:
            with torch.inference_mode():
                net.eval()(self.target_x[:1])  # eval: no dropout draw, no batch-norm update
        except (RuntimeError, ValueError) as exc:
            shape, why = tuple(self.target_x.shape[1:]), " ".join(str(exc).split())[:120]
            raise ConfigError(
                f"strategy.targets: inputs of shape {shape} do not fit the model ({why})"
            ) from None
        finally:
            net.train(training)

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """EPIG of every candidate with respect to this query's targets."""
        pool = sample_log_probs(ctx, self.source, self.mc_samples, True)
        if self.target_x is None:
            pick = torch.randperm(pool.shape[1], generator=ctx.acquisition)[: self.n_targets]
            return epig(pool, pool[:, pick])
        pick = torch.randperm(len(self.target_x), generator=ctx.acquisition)[: self.n_targets]
        x = self.target_x[pick.sort().values].to(device=ctx.x.device, dtype=ctx.x.dtype)
        return epig(pool, sample_log_probs(ctx, self.source, self.mc_samples, True, x))
