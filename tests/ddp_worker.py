"""One rank of the sharded-scoring test: ``python tests/ddp_worker.py RANK WORLD PORT OUT``.

Scores a synthetic pool with a score, an embedding and an MC strategy and saves, per strategy, the
rank's own selection (before any broadcast), the selection every rank uses, and the log-probabilities;
then the MC-dropout samples (independent and consistent masks, T = 5 and T = 1) and the metrics of a
labelled split (one deterministic pass and the MC-averaged one), each sharded across the ranks.
"""

from __future__ import annotations

import functools
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from alrun import collectives
from alrun.data.tensors import TensorData
from alrun.models.ensemble import Ensemble
from alrun.models.nets import MLP
from alrun.strategies import Badge, Bald, Dfal, Entropy, McEntropy
from alrun.strategies.base import QueryContext
from alrun.strategies.mc import mc_log_probs
from alrun.strategies.samples import member_log_probs
from alrun.training.inference import evaluate, evaluate_mc

POOL, CHUNK, PICK = 1000, 64, 7  # 16 chunks, the last one short: uneven shards


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).eval()


def ensemble() -> nn.Module:
    torch.manual_seed(0)
    return Ensemble((8,), 3, functools.partial(MLP, hidden=(16,)), members=3).eval()


def score(rank: int, world: int, port: int, out: Path) -> None:
    if world > 1:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
            timeout=timedelta(seconds=240),
        )  # fmt: skip
    torch.set_num_threads(1)
    model, x = net(), torch.randn(POOL, 8, generator=torch.Generator().manual_seed(1))
    results = {}
    rules = [("entropy", Entropy(), model), ("badge", Badge(), model), ("bald", Bald(mc_samples=4), model)]
    rules += [("dfal", Dfal(max_iter=3), model), ("members", McEntropy(), ensemble())]
    for name, rule, scored in rules:
        ctx = QueryContext(
            x=x, net=scored, chunk_size=CHUNK, tiebreak=torch.Generator().manual_seed(2),
            acquisition=torch.Generator().manual_seed(3), labelled_x=x[:10], mc_seed=4,
            rows=torch.arange(5, POOL),
        )  # fmt: skip
        own = rule.select(ctx, PICK)
        shared = collectives.from_rank_zero(own)
        scores = own.pool_score if own.pool_score is not None else own.score
        results[name] = {
            "own": own.index,
            "shared": shared.index,
            "log_probs": ctx.log_probs(),
            "scores": scores,
        }
        if name == "members":
            results["member_log_probs"] = member_log_probs(ctx)
    rows, prefix_rows = [0], [0]  # items through the last layer (every pass) and the first (once)
    model[-1].register_forward_hook(lambda m, inputs, out: rows.__setitem__(0, rows[0] + len(out)))
    model[0].register_forward_hook(
        lambda m, inputs, out: prefix_rows.__setitem__(0, prefix_rows[0] + len(out))
    )
    ctx = QueryContext(
        x=x, net=model, chunk_size=CHUNK, tiebreak=torch.Generator().manual_seed(2),
        acquisition=torch.Generator().manual_seed(3), mc_seed=4, rows=torch.arange(5, POOL),
    )  # fmt: skip
    for samples, consistent in ((5, False), (5, True), (1, False)):
        results[f"mc/T={samples}/consistent={consistent}"] = mc_log_probs(ctx, samples, consistent)
    labelled = TensorData(x, torch.arange(POOL) % 3, torch.arange(POOL))
    results["eval"] = evaluate(model, labelled, CHUNK)
    results["eval_mc"] = evaluate_mc(model, labelled, CHUNK, 5, seed=6)
    results["rows"] = rows[0]  # items this rank passed through the net for the MC samples and metrics
    results["prefix_rows"] = prefix_rows[0]  # through the layers before the dropout (run once per call)
    torch.save(results, out / f"rank{rank}_of{world}.pt")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    score(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
