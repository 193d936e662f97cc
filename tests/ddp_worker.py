"""One rank of the sharded-scoring test: ``python tests/ddp_worker.py RANK WORLD PORT OUT``.

Scores a synthetic pool with a score, an embedding and an MC strategy and saves, per strategy, the
rank's own selection (before any broadcast), the selection every rank uses, and the log-probabilities.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from alrun import collectives
from alrun.strategies import Badge, Bald, Entropy
from alrun.strategies.base import QueryContext

POOL, CHUNK, PICK = 1000, 64, 7  # 16 chunks, the last one short: uneven shards


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).eval()


def score(rank: int, world: int, port: int, out: Path) -> None:
    if world > 1:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
            timeout=timedelta(seconds=240),
        )  # fmt: skip
    torch.set_num_threads(1)
    model, x = net(), torch.randn(POOL, 8, generator=torch.Generator().manual_seed(1))
    results = {}
    for name, rule in (("entropy", Entropy()), ("badge", Badge()), ("bald", Bald(mc_samples=4))):
        ctx = QueryContext(
            x=x, net=model, chunk_size=CHUNK, tiebreak=torch.Generator().manual_seed(2),
            acquisition=torch.Generator().manual_seed(3), labelled_x=x[:10], mc_seed=4,
            rows=torch.arange(5, POOL),
        )  # fmt: skip
        own = rule.select(ctx, PICK)
        shared = collectives.from_rank_zero(own)
        results[name] = {"own": own.index, "shared": shared.index, "log_probs": ctx.log_probs()}
    torch.save(results, out / f"rank{rank}_of{world}.pt")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    score(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
