"""M networks of one architecture run as one module: inputs ``[M, N, ...]`` -> outputs ``[M, N, ...]``.

:func:`batch_members` converts the members layer by layer into grouped layers, so one call does the
work of M forward passes (and the backward pass and one optimizer step update all members at once):

* ``nn.Sequential``: each position converted;
* ``nn.Linear``: one batched matrix product over stacked weights ``[M, out, in]``;
* ``nn.Conv1d`` / ``nn.Conv2d`` (zero padding): one convolution with ``groups`` times M over the members'
  channels side by side;
* ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``: batch norm over the members' channels side by side (batch norm
  is per channel, so this is each member's own batch norm, running statistics included);
* parameter-free layers that act on each item alone (activations, dropout, pooling, flatten): applied
  once to the members' items side by side;
* anything else (an unknown layer, a container with its own ``forward``): ``torch.func.vmap`` over
  the members' stacked parameters and buffers (``torch.func.stack_module_state``).

Each grouped layer starts from the members' own weights, so member m of the batched module computes
what network m computes (up to float rounding of the grouped kernels; tested).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

# fmt: off
PER_ITEM: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity,
    nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d,
    nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
)
# fmt: on


def _stack(nets: Sequence[nn.Module], name: str) -> nn.Parameter:
    """The members' ``name`` tensors stacked on a new first axis, as one parameter."""
    return nn.Parameter(torch.stack([getattr(n, name).detach() for n in nets]).clone())


def _cat(nets: Sequence[nn.Module], name: str) -> torch.Tensor:
    """The members' ``name`` tensors side by side on their first axis (a copy)."""
    return torch.cat([getattr(n, name).detach() for n in nets]).clone()


class MergeMembers(nn.Module):
    """A parameter-free per-item layer applied to the M·N items at once."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = copy.deepcopy(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, ...] -> [M, N, ...]``."""
        out = self.layer(x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]))
        return out.reshape(x.shape[0], x.shape[1], *out.shape[1:])


class GroupedLinear(nn.Module):
    """M linear layers: ``weight [M, out, in]``, ``bias [M, out]`` (or none)."""

    def __init__(self, nets: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = _stack(nets, "weight")
        self.bias = _stack(nets, "bias") if nets[0].bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, ..., in] -> [M, N, ..., out]``."""
        m, shape = x.shape[0], x.shape[1:-1]
        flat = x.reshape(m, -1, x.shape[-1])
        out = torch.bmm(flat, self.weight.transpose(1, 2))
        if self.bias is not None:
            out = out + self.bias[:, None, :]
        return out.reshape(m, *shape, out.shape[-1])


def _side_by_side(x: torch.Tensor) -> torch.Tensor:
    """``[M, N, C, ...] -> [N, M·C, ...]``: the members' channels next to each other."""
    return x.transpose(0, 1).reshape(x.shape[1], x.shape[0] * x.shape[2], *x.shape[3:])


def _apart(x: torch.Tensor, m: int) -> torch.Tensor:
    """``[N, M·C, ...] -> [M, N, C, ...]``."""
    return x.reshape(x.shape[0], m, x.shape[1] // m, *x.shape[2:]).transpose(0, 1)


class GroupedConv(nn.Module):
    """M convolutions (``nn.Conv1d`` / ``nn.Conv2d`` with zero padding) as one grouped convolution."""

    def __init__(self, nets: Sequence[nn.Conv1d | nn.Conv2d]) -> None:
        super().__init__()
        first = nets[0]
        self.m, self.groups = len(nets), first.groups
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.conv = F.conv2d if isinstance(first, nn.Conv2d) else F.conv1d
        self.weight = nn.Parameter(_cat(nets, "weight"))
        self.bias = nn.Parameter(_cat(nets, "bias")) if first.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, C, ...] -> [M, N, out, ...]``."""
        out = self.conv(
            _side_by_side(x),
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.m * self.groups,
        )
        return _apart(out, self.m)


class GroupedBatchNorm(nn.Module):
    """M batch norms (1d or 2d) as one over the members' channels side by side."""

    running_mean: torch.Tensor | None
    running_var: torch.Tensor | None
    num_batches_tracked: torch.Tensor | None

    def __init__(self, nets: Sequence[nn.BatchNorm1d | nn.BatchNorm2d]) -> None:
        super().__init__()
        first = nets[0]
        self.m, self.eps, self.momentum = len(nets), first.eps, first.momentum
        self.weight = nn.Parameter(_cat(nets, "weight")) if first.affine else None
        self.bias = nn.Parameter(_cat(nets, "bias")) if first.affine else None
        self.track = first.track_running_stats
        tracked: dict[str, torch.Tensor | None] = dict.fromkeys(
            ("running_mean", "running_var", "num_batches_tracked")
        )
        if self.track:
            done = first.num_batches_tracked
            count = torch.zeros((), dtype=torch.long) if done is None else done.detach().clone()
            tracked = {"running_mean": _cat(nets, "running_mean"), "running_var": _cat(nets, "running_var")}
            tracked["num_batches_tracked"] = count
        for name, value in tracked.items():
            self.register_buffer(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, C, ...] -> [M, N, C, ...]`` with ``nn.BatchNorm``'s arithmetic (momentum ``None`` too)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or not self.track
        out = F.batch_norm(
            _side_by_side(x),
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            batch_stats,
            factor,
            self.eps,
        )
        return _apart(out, self.m)


class VmapMembers(nn.Module):
    """Any module, M times: ``torch.func.vmap`` of a functional call over stacked parameters and buffers."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        params, buffers = stack_module_state(list(nets))
        self.names = sorted(params)
        self.buffer_names = sorted(buffers)
        for i, name in enumerate(self.names):
            self.register_parameter(f"p{i}", nn.Parameter(params[name].detach().clone()))
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"b{i}", buffers[name].clone())
        self._skeleton = [copy.deepcopy(nets[0]).to("meta")]  # in a list: not a registered submodule

    def train(self, mode: bool = True) -> VmapMembers:
        """Train or eval mode, for the stacked members too."""
        self._skeleton[0].train(mode)
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, ...] -> [M, N, ...]``."""
        params = {n: getattr(self, f"p{i}") for i, n in enumerate(self.names)}
        buffers = {n: getattr(self, f"b{i}") for i, n in enumerate(self.buffer_names)}
        skeleton = self._skeleton[0]

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xs: torch.Tensor) -> Any:
            return functional_call(skeleton, (p, b), (xs,))

        return vmap(one, randomness="different")(params, buffers, x)


def _children(nets: Sequence[nn.Module], i: int) -> list[nn.Module]:
    return [n[i] for n in nets]  # type: ignore[index]


def batch_members(nets: Sequence[nn.Module]) -> nn.Module:
    """One module computing every member of ``nets`` (same architecture) on ``[M, N, ...]`` inputs."""
    first = nets[0]
    kind = type(first)
    if kind is nn.Sequential:
        return nn.Sequential(*(batch_members(_children(nets, i)) for i in range(len(first))))  # type: ignore[arg-type]
    if kind is nn.Linear:
        return GroupedLinear(nets)  # type: ignore[arg-type]
    if kind in (nn.Conv1d, nn.Conv2d) and first.padding_mode == "zeros" and isinstance(first.padding, tuple):
        return GroupedConv(nets)  # type: ignore[arg-type]
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        return GroupedBatchNorm(nets)  # type: ignore[arg-type]
    if (
        kind in PER_ITEM
        and not any(True for _ in first.parameters())
        and not any(True for _ in first.buffers())
    ):
        return MergeMembers(first)
    return VmapMembers(nets)
