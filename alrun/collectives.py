"""Collectives of a run on several ranks, each a no-op without a process group.

Every rank calls them in the same order (the loop is the same on every rank): scoring and evaluation
chunks split across ranks and gathered in pool order, rank 0's query broadcast, sums added up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist


def world() -> int:
    """Ranks in this run's process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return dist.get_rank() if world() > 1 else 0


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def from_rank_zero(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself without a process group)."""
    if world() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over the ranks (itself without a process group)."""
    if world() == 1:
        return values
    out = values.to(_comm_device())
    dist.all_reduce(out)
    return out.to(values.device)


def gather_chunks(parts: list[torch.Tensor], sizes: Sequence[int]) -> torch.Tensor:
    """The outputs of all chunks, in chunk order, from ranks that each computed chunks
    ``rank, rank + k, rank + 2k, ...`` (``parts``, on any device; the result is on the CPU); ``sizes``
    are every chunk's rows."""
    if not sizes:  # every rank knows: all raise alike, none waits for the others
        raise ValueError("gather_chunks needs at least one chunk")
    k, me = world(), rank()
    spec = from_rank_zero((tuple(parts[0].shape[1:]), parts[0].dtype) if me == 0 else None)
    owned = [[sizes[i] for i in range(r, len(sizes), k)] for r in range(k)]
    rows = max(sum(o) for o in owned)
    local = torch.cat(parts) if parts else torch.empty(0, *spec[0], dtype=spec[1])
    padded = torch.zeros(rows, *spec[0], dtype=spec[1])
    padded[: len(local)] = local
    device = _comm_device()
    gathered = [torch.empty_like(padded, device=device) for _ in range(k)]
    dist.all_gather(gathered, padded.to(device))
    starts = [0] * k
    out = []
    for i, n in enumerate(sizes):
        r = i % k
        out.append(gathered[r][starts[r] : starts[r] + n].cpu())
        starts[r] += n
    return torch.cat(out)


def in_turns(count: int, compute: Callable[[int], torch.Tensor]) -> Iterator[torch.Tensor]:
    """``compute(i)`` for ``i = 0 .. count - 1``, yielded in that order on every rank. Under several
    ranks rank ``r`` computes ``i = r, r + k, ...``: each turn of ``k`` outputs is gathered from the
    ranks that computed them (on the CPU), so no rank holds more than ``k`` outputs at once.
    ``compute`` gives a tensor of the same shape for every ``i``."""
    k, me = world(), rank()
    if k == 1:
        yield from (compute(i) for i in range(count))
        return
    for start in range(0, count, k):
        n = min(k, count - start)
        mine = [compute(start + me)[None]] if me < n else []
        yield from gather_chunks(mine, [1] * n)
