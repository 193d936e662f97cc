"""How many CPU threads a run's torch uses, and how its OpenMP threads wait.

``threads: auto`` (the default) gives a model whose training step is small one thread: its matrix
products are too small for a second thread to pay for waking it up, and a lone thread is not held
up by another process on a busy machine. A larger model gets torch's default (``OMP_NUM_THREADS``
when set, as joblib sets it for sweep workers, else one thread per core). ``threads: null`` is
always torch's default; ``threads: N`` is exactly N. The number used is written to ``run.json``.

OpenMP worker threads spin for a while after each parallel region by default (libgomp: about
3 ms), and on a machine whose cores are taken that spinning collapses a run's speed (measured in
``docs/performance.md``). The ``alrun`` command therefore asks for passive waiting
(``OMP_WAIT_POLICY=PASSIVE``) unless the environment says otherwise. The OpenMP runtime reads it
once, when torch is imported, so :func:`prefer_passive_waiting` must run before that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from math import prod
from typing import Any

# training FLOPs per mini-batch step (3 x forward x batch) below which `auto` picks one thread
AUTO_MIN_STEP_FLOPS = 100e6
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def prefer_passive_waiting() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in this process's environment (and so in its sweep
    workers'), unless it is set already; ``False`` when torch is imported already (too late)."""
    if "torch" in sys.modules:
        return False
    for key, value in OPENMP_ENV.items():
        os.environ.setdefault(key, value)
    return True


def forward_flops(net: Any, input_shape: Sequence[int]) -> int:
    """FLOPs of one item's forward pass through ``net``'s linear and convolution layers
    (2 per multiply-add), counted on a forward pass of zeros in eval mode, without gradients."""
    import torch
    from torch import nn

    total = 0

    def count(module: nn.Module, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += 2 * module.in_features * out.numel()
        elif isinstance(module, nn.modules.conv._ConvNd):
            total += 2 * out.numel() * (module.in_channels // module.groups) * prod(module.kernel_size)

    layers = (nn.Linear, nn.modules.conv._ConvNd)
    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, layers)]
    training = net.training
    try:
        net.eval()
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, device=device))
    finally:
        net.train(training)
        for hook in hooks:
            hook.remove()
    return total


def resolve(setting: int | str | None, net: Any, input_shape: Sequence[int], batch_size: int) -> int:
    """The thread count for ``threads: setting`` (``auto``, ``null`` or a number) and this model.

    Args:
        setting: the config's ``threads``.
        net: the run's classifier (its size decides ``auto``).
        input_shape: shape of one input item.
        batch_size: the training mini-batch size.
    """
    import torch

    if isinstance(setting, int) and not isinstance(setting, bool):
        return setting
    default = torch.get_num_threads()
    if setting is None:
        return default
    try:
        step_flops = 3 * forward_flops(net, input_shape) * batch_size
    except Exception:  # a model the count cannot run: its own fit will say what is wrong
        return default
    return 1 if step_flops < AUTO_MIN_STEP_FLOPS else default
