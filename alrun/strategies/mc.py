"""MC dropout at acquisition: T stochastic forward passes over the candidates, chunked and seeded.

Dropout is switched on only inside :func:`mc_log_probs` and only for the dropout layers (batch norm
and everything else stay in eval mode); the net is back in eval mode afterwards. Sample ``t`` draws
its masks from the seed :func:`alrun.seeding.derive` gives for ``(QueryContext.mc_seed, t)``, so the
masks are a function of the run's seed and round. The pool is scored chunk by chunk for each ``t``:
activations never hold more than one chunk, whatever T is; only the ``[T, N, C]`` result grows with T.
Under several ranks each rank runs every k-th sample ``t`` (the same seeds) and the samples are
gathered, so every rank gets what one process computes, to the bit, at about 1/k of the cost.
The layers before the first dropout layer run once per chunk, not T times, when they are plain
deterministic ``torch.nn`` layers (:mod:`alrun.strategies.fixed_prefix`); the samples are the same.

* ``consistent=False``: the layers run in train mode under a seeded global-RNG scope; every item
  gets its own masks (Gal's MC dropout).
* ``consistent=True``: one mask per layer and sample ``t``, shared by every candidate (baal's
  ``ConsistentDropout``): sample ``t`` is one fixed sub-network, which BatchBALD's joint entropies
  need; the masks do not depend on the chunk size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from alrun import collectives
from alrun.errors import ConfigError
from alrun.seeding import derive, torch_global_seed
from alrun.strategies.base import QueryContext
from alrun.strategies.fixed_prefix import fixed_inputs

CONSISTENT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def dropout_layers(net: nn.Module) -> list[_DropoutNd]:
    """The net's dropout layers (any ``torch.nn`` dropout) with a drop probability above 0."""
    return [m for m in net.modules() if isinstance(m, _DropoutNd) and m.p > 0]


def require_dropout(net: nn.Module, strategy: str | None = None, consistent: bool = False) -> None:
    """Raise :class:`ConfigError` when ``net`` cannot give MC-dropout samples (for ``strategy``)."""
    who = f"strategy {strategy}" if strategy else "MC-dropout sampling"
    layers = dropout_layers(net)
    if not layers:
        raise ConfigError(
            f"{who} needs MC dropout, but the model ({type(net).__name__}) has no dropout layer; "
            "set a dropout probability, e.g. model.dropout=0.5"
        )
    odd = sorted({type(m).__name__ for m in layers if not isinstance(m, CONSISTENT)})
    if consistent and odd:
        raise ConfigError(
            f"{who}: consistent MC dropout supports nn.Dropout and nn.Dropout1d/2d/3d, "
            f"not {', '.join(odd)}; set strategy.consistent=false"
        )


def mc_log_probs(
    ctx: QueryContext, samples: int, consistent: bool = False, x: torch.Tensor | None = None
) -> torch.Tensor:
    """``[T, N, C]`` float64 log-probabilities of ``samples`` MC-dropout passes, on the CPU.

    Cached in the query's context, so strategies asking for the same ``(T, consistent)`` share them.
    With ``x``, those inputs are scored instead of the candidates (not cached); with consistent masks
    they see the same sub-networks as the candidates (EPIG's targets).
    """
    if x is not None:
        return _sample(ctx, samples, consistent, x)
    key = f"mc_log_probs/T={samples}/consistent={consistent}"
    return ctx.cached(key, lambda: _sample(ctx, samples, consistent, None))


def _sample(ctx: QueryContext, samples: int, consistent: bool, x: torch.Tensor | None) -> torch.Tensor:
    require_dropout(ctx.net, consistent=consistent)
    layers = dropout_layers(ctx.net)
    active = _consistent_masks if consistent else independent_masks

    with torch.inference_mode():
        net, inputs = fixed_inputs(ctx.net, lambda: ctx.chunks(x))

        def one_sample(t: int) -> torch.Tensor:
            with active(layers, ctx.mc_seed, t, ctx.x.device):
                parts = [net(c).double().log_softmax(dim=-1).cpu() for c in inputs()]
            return torch.cat(parts) if parts else torch.empty(0, 0, dtype=torch.float64)

        # under several ranks: every k-th sample, gathered turn by turn
        return torch.stack(list(collectives.in_turns(samples, one_sample)))


@contextlib.contextmanager
def independent_masks(
    layers: Sequence[_DropoutNd], mc_seed: int, t: int, device: torch.device
) -> Iterator[None]:
    """Dropout layers in train mode, drawing from torch's global RNG seeded for sample ``t``."""
    with torch_global_seed(derive(mc_seed, t), device):
        for m in layers:
            m.train()
        try:
            yield
        finally:
            for m in layers:
                m.eval()


def _mask_shape(layer: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """Shape of one item's mask: every feature (``nn.Dropout``) or every channel (``DropoutNd``)."""
    if isinstance(layer, nn.Dropout):
        return tuple(x.shape[1:])
    return (x.shape[1],) + (1,) * (x.ndim - 2)


@contextlib.contextmanager
def _consistent_masks(
    layers: Sequence[_DropoutNd], mc_seed: int, t: int, device: torch.device
) -> Iterator[None]:
    """Hooks multiplying each layer's output by one mask for the whole pool (the layers stay in eval)."""
    masks: dict[int, torch.Tensor] = {}

    def hook_for(i: int, layer: _DropoutNd) -> Callable[..., torch.Tensor]:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            if i not in masks:
                gen = torch.Generator(device=output.device).manual_seed(derive(mc_seed, t, i))
                keep = 1.0 - layer.p
                draw = torch.rand(_mask_shape(layer, output), generator=gen, device=output.device)
                masks[i] = (draw < keep).to(output.dtype) / keep
            return output * masks[i]

        return hook

    handles = [m.register_forward_hook(hook_for(i, m)) for i, m in enumerate(layers)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
