"""How many CPU threads a run's torch uses, and how its OpenMP threads wait.

``threads: auto`` (the default) gives a model whose training step is small one thread: its matrix
products are too small for a second thread to pay for waking it up, and a lone thread is not held
up by another process on a busy machine. A larger model gets torch's default (``OMP_NUM_THREADS``
when set, as joblib sets it for sweep workers, else one thread per core). ``threads: null`` is
always torch's default; ``threads: N`` is exactly N. The number used is written to ``run.json``.

OpenMP worker threads spin for a while after each parallel region before they sleep (libgomp's
default: about 3 ms). On a quiet machine a short spin is what lets a second thread pay: the gap between
two operations of a training step is shorter than waking a sleeping thread. On a machine whose cores
are taken, spinning steals the core the working thread needs, and a run collapses (both measured in
``docs/performance.md``). The ``alrun`` command therefore chooses, unless the environment sets
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``: a short spin (``GOMP_SPINCOUNT=30000``, about 0.3 ms)
when torch's threads fit on the cores no other process is running on, else passive waiting
(``OMP_WAIT_POLICY=PASSIVE``); passive also where the kernel does not tell the running threads or
torch's OpenMP runtime is not libgomp. The thread count the choice assumes is ``OMP_NUM_THREADS`` or
every core, not the config's ``threads``. The wait policy changes timings only, never results. The OpenMP
runtime reads it once, when torch is imported, so :func:`choose_openmp_wait` must run before that.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from math import prod
from pathlib import Path
from typing import Any

# training FLOPs per mini-batch step (3 x forward x batch) below which `auto` picks one thread
AUTO_MIN_STEP_FLOPS = 100e6
SHORT_SPIN = {"GOMP_SPINCOUNT": "30000"}  # libgomp counts about 100,000 spins a millisecond
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
USER_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def openmp_wait(others: int, threads: int, cores: int) -> dict[str, str]:
    """The wait setting for ``threads`` torch threads on ``cores`` cores, ``others`` of them taken by
    other processes' runnable threads: a short spin when the threads fit beside them, else passive."""
    return SHORT_SPIN if threads + others <= cores else PASSIVE


def other_runnable(samples: int = 3, pause_s: float = 0.01) -> int | None:
    """Runnable threads of other processes now (``/proc/loadavg``'s running count less this one),
    the least of ``samples`` reads ``pause_s`` apart; ``None`` where the kernel does not say."""
    counts = []
    for i in range(samples):
        try:
            running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
        except (OSError, IndexError):
            return None
        counts.append(int(running) - 1)
        if i + 1 < samples:
            time.sleep(pause_s)
    return max(0, min(counts))


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def torch_loaded() -> bool:
    """Whether torch is imported already (its OpenMP runtime has read its settings)."""
    return "torch" in sys.modules


def torch_uses_libgomp() -> bool:
    """Whether the installed torch ships GNU's OpenMP runtime (found without importing torch)."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return False
    return any((Path(spec.origin).parent / "lib").glob("libgomp*"))


def choose_openmp_wait() -> str | None:
    """Set the OpenMP wait (see the module docstring) in this process's environment, and so in its
    sweep workers', unless the environment sets one; returns what is set (``KEY=VALUE``), or
    ``None`` when nothing was: set by the user, or torch is imported already (too late)."""
    if torch_loaded() or any(key in os.environ for key in USER_KEYS):
        return None
    cores = usable_cores()
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", cores))
    except ValueError:
        threads = cores
    others = other_runnable()
    # GOMP_SPINCOUNT is libgomp's own setting; without the running count, wait passively
    setting = openmp_wait(others, threads, cores) if others is not None and torch_uses_libgomp() else PASSIVE
    os.environ.update(setting)
    return " ".join(f"{k}={v}" for k, v in setting.items())


def openmp_wait_in_use() -> str:
    """The OpenMP wait settings of this process's environment, for ``run.json``."""
    return " ".join(f"{k}={os.environ[k]}" for k in USER_KEYS if k in os.environ) or "libgomp default"


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
