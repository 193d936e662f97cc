"""The dropout-free start of a net, run once for all T MC-dropout passes.

T MC-dropout passes run the whole net T times, yet the layers before the first dropout layer see the
same input in every pass: in Gal's CNN (``model=cnn``) that is the two convolutions, most of a pass's
arithmetic. :func:`fixed_inputs` runs such a prefix once per chunk, keeps its outputs and hands the
samplers the rest of the net: each pass is then the same arithmetic on the same values as a whole
pass, so the samples are bit-identical to T whole passes, at a fraction of the cost.

A prefix counts only when it is made of plain ``torch.nn`` layers without randomness (the exact types
in :data:`FIXED`, all in eval mode), and only for an ``nn.Sequential`` or an alrun net whose forward is
``head(body(x))`` with a sequential body, and without forward hooks on the net or its body (a split
would skip their calls); any other net runs whole, as before. The prefix outputs are
kept only while they fit in :data:`CACHE_BYTES`; beyond that the net runs whole too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from alrun.models.nets import Classifier

Net = Callable[[torch.Tensor], torch.Tensor]

FIXED: tuple[type[nn.Module], ...] = (
    nn.Sequential, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
    nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
)  # fmt: skip
"""Layer types a fixed prefix may hold: deterministic functions of their input in eval mode."""

CACHE_BYTES = 1 << 30
"""The most memory the kept prefix outputs of one query or evaluation may take (1 GiB)."""


def split_fixed(net: nn.Module) -> tuple[nn.Module, Net] | None:
    """``(prefix, rest)`` with ``rest(prefix(x))`` computing ``net(x)`` layer by layer, or ``None``
    when the net has no fixed prefix (or a shape this module does not know)."""
    if isinstance(net, nn.Sequential):
        layers, head = net, None
    elif isinstance(net, Classifier) and type(net).forward is Classifier.forward:
        if not isinstance(net.body, nn.Sequential):
            return None
        layers, head = net.body, net.head
    else:
        return None
    if _hooked(net, layers):
        return None
    n = _fixed_length(layers)
    if n == 0:
        return None
    prefix, tail = layers[:n], layers[n:]
    if head is None:
        return prefix, tail
    return prefix, lambda z: head(tail(z))


def _hooked(*modules: nn.Module) -> bool:
    """Whether forward hooks would see the calls a split skips (those of ``modules``, or global ones)."""
    glob = nn.modules.module
    if glob._global_forward_hooks or glob._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _fixed_length(layers: nn.Sequential) -> int:
    """How many leading layers hold only :data:`FIXED` modules in eval mode."""
    n = 0
    for layer in layers:
        if not all(type(m) in FIXED and not m.training for m in layer.modules()):
            break
        n += 1
    return n


def fixed_inputs(
    net: nn.Module, chunks: Callable[[], Iterable[torch.Tensor]]
) -> tuple[Net, Callable[[], Iterable[torch.Tensor]]]:
    """What the T passes run, and on what: ``(rest, the kept prefix outputs of every chunk)`` when
    ``net`` has a fixed prefix whose outputs fit in :data:`CACHE_BYTES`, else ``(net, chunks)``.

    Call it under ``torch.inference_mode()``; ``chunks()`` gives the inputs in order, afresh per call.
    """
    split = split_fixed(net)
    if split is None:
        return net, chunks
    prefix, rest = split
    kept: list[torch.Tensor] = []
    size = 0
    for chunk in chunks():
        kept.append(prefix(chunk))
        size += kept[-1].numel() * kept[-1].element_size()
        if size > CACHE_BYTES:
            return net, chunks
    return rest, lambda: kept
