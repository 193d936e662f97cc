"""Where the ``[T, N, C]`` samples of the MC scores come from: MC-dropout passes or ensemble members.

``strategy.source`` picks one for every strategy that scores samples (``bald``, ``mc_entropy``,
``var_ratio``, ``mean_std``, ``batchbald``, ``vote_entropy``, ``kl_to_mean``, ``epig``, and the
stochastic wrappers around them):

* ``auto`` (the default): ``members`` when the model is an ensemble, else ``dropout``;
* ``dropout``: ``mc_samples`` MC-dropout passes of the net (:mod:`alrun.strategies.mc`);
* ``members``: one sample per member of an ensemble (``model=ensemble``): a net with a
  ``member_logits(x) -> [M, N, C]`` method; ``mc_samples`` and ``consistent`` do not apply (each
  member is one fixed function, so the samples are consistent by construction).
"""

from __future__ import annotations

import torch
from torch import nn

from alrun.errors import ConfigError
from alrun.strategies.base import QueryContext
from alrun.strategies.mc import mc_log_probs, require_dropout

SOURCES = ("auto", "dropout", "members")


def check_source(source: str) -> str:
    """``source`` if it is one of :data:`SOURCES`, else a one-line :class:`ConfigError`."""
    if source not in SOURCES:
        raise ConfigError(f"strategy.source={source!r} is not allowed (choose from: {', '.join(SOURCES)})")
    return source


def has_members(net: nn.Module) -> bool:
    """Whether ``net`` is an ensemble that gives one prediction per member."""
    return callable(getattr(net, "member_logits", None))


def resolve(net: nn.Module, source: str) -> str:
    """``dropout`` or ``members``: what ``source`` means for ``net`` (``auto``: members of an ensemble)."""
    if source == "auto":
        return "members" if has_members(net) else "dropout"
    return source


def require_samples(net: nn.Module, source: str, strategy: str, consistent: bool = False) -> None:
    """Raise :class:`ConfigError` when ``net`` cannot give ``source``'s samples to ``strategy``."""
    source = resolve(net, source)
    if source == "members":
        if not has_members(net):
            raise ConfigError(
                f"strategy {strategy}: strategy.source=members needs an ensemble, but the model "
                f"({type(net).__name__}) has no members; use model=ensemble or strategy.source=dropout"
            )
        return
    if has_members(net):
        raise ConfigError(
            f"strategy {strategy}: MC dropout over an ensemble is not supported; "
            "set strategy.source=members to score over its members"
        )
    require_dropout(net, strategy, consistent)


def sample_log_probs(
    ctx: QueryContext, source: str, samples: int, consistent: bool, x: torch.Tensor | None = None
) -> torch.Tensor:
    """``[T, N, C]`` float64 log-probabilities of the candidates from ``source`` (cached per query),
    or of other inputs ``x`` under the same samples (same members, same consistent masks)."""
    if resolve(ctx.net, source) == "members":
        return member_log_probs(ctx, x)
    return mc_log_probs(ctx, samples, consistent, x)


def member_log_probs(ctx: QueryContext, x: torch.Tensor | None = None) -> torch.Tensor:
    """``[M, N, C]`` float64 log-probabilities of every ensemble member, on the CPU, in chunks.

    Args:
        ctx: the query; its candidates are scored (and cached) unless ``x`` is given.
        x: other inputs to score with the same members (not cached).
    """
    if x is None:
        return ctx.cached("member_log_probs", lambda: _members(ctx, None))
    return _members(ctx, x)


def _members(ctx: QueryContext, x: torch.Tensor | None) -> torch.Tensor:
    net = ctx.net
    with torch.inference_mode():
        if x is None and len(ctx):  # the candidates: under several ranks every k-th chunk, gathered
            items_first = ctx.map_chunks(
                lambda c: net.member_logits(c).double().log_softmax(dim=-1).cpu().transpose(0, 1)  # type: ignore[operator]
            )
            return items_first.transpose(0, 1).contiguous()
        parts = [net.member_logits(c).double().log_softmax(dim=-1).cpu() for c in ctx.chunks(x)]  # type: ignore[operator]
        if parts:
            return torch.cat(parts, dim=1)
        first = ctx.x[:0] if x is None else x
        return net.member_logits(first).double().log_softmax(dim=-1).cpu()  # type: ignore[operator]
