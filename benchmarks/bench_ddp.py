"""One process against two gloo ranks on the CPU: a fit through Lightning's loop, and scoring a pool.

``python benchmarks/bench_ddp.py [--pool 1000000] [--labels 8192] [--epochs 3] [--tiny]`` prints one
markdown table, measured side by side in one run: one process with one torch thread, one process
with two threads, and two ranks with one thread each (``trainer=ddp_cpu``'s layout: alrun's
process group over gloo, Lightning's DDP strategy, each rank a shard of every mini-batch; scoring
through ``QueryContext.map_chunks``, every rank every second chunk, gathered in pool order). The
two-rank scores are checked to equal the one-process scores to the bit. Wall times exclude process
start-up (imports, data), which ``trainer=ddp_cpu`` pays once per run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from alrun.data.tensors import ShuffledBatches
from alrun.strategies import Entropy
from alrun.strategies.base import QueryContext

FEATURES, CLASSES, BATCH, CHUNK = 64, 10, 64, 8192


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(FEATURES, 256), nn.ReLU(), nn.Linear(256, CLASSES))


class Fit(pl.LightningModule):
    """A plain classifier fit on alrun's mini-batches (sharded across ranks)."""

    def __init__(self, batches: ShuffledBatches) -> None:
        super().__init__()
        self.net, self.batches = net(), batches

    def train_dataloader(self) -> ShuffledBatches:
        return self.batches

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, FEATURES, generator=gen), torch.randint(CLASSES, (n,), generator=gen)


def fit_seconds(args: argparse.Namespace, rank: int, world: int) -> float:
    x, y = data(args.labels, 1)
    batches = ShuffledBatches(x, y, BATCH, torch.Generator().manual_seed(2), shard=(rank, world))
    trainer = pl.Trainer(
        accelerator="cpu", devices=world, strategy="ddp" if world > 1 else "auto", max_epochs=args.epochs,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(Fit(batches))
    return time.perf_counter() - start


def score_seconds(args: argparse.Namespace) -> tuple[float, torch.Tensor]:
    x, _ = data(args.pool, 3)
    model = net().eval()
    ctx = QueryContext(x=x, net=model, chunk_size=CHUNK, tiebreak=torch.Generator().manual_seed(4),
                       acquisition=torch.Generator().manual_seed(5))  # fmt: skip
    start = time.perf_counter()
    picked = Entropy().select(ctx, 100)
    return time.perf_counter() - start, torch.cat([picked.index.double(), ctx.log_probs().flatten()[::997]])


def rank_main(args: argparse.Namespace) -> None:
    """One of the two ranks: join the group, time the fit and the scoring, rank 0 saves them."""
    os.environ |= {"LOCAL_RANK": str(args.rank), "WORLD_SIZE": "2", "NODE_RANK": "0"}
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(args.port)}
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank,
                            world_size=2, timeout=timedelta(seconds=600))  # fmt: skip
    torch.set_num_threads(1)
    fit = fit_seconds(args, args.rank, 2)
    dist.barrier()
    score, check = score_seconds(args)
    if args.rank == 0:
        torch.save({"fit": fit, "score": score, "check": check}, args.out)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_ranks(args: argparse.Namespace, out: Path) -> dict[str, object]:
    port, env = free_port(), os.environ | {"OMP_NUM_THREADS": "1"}
    common = [str(a) for a in ("--pool", args.pool, "--labels", args.labels, "--epochs", args.epochs)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--rank", str(r), "--port", str(port), "--out", str(out), *common],
            env=env,
        )
        for r in range(2)
    ]
    if any(p.wait(1800) for p in procs):
        raise SystemExit("a rank failed")
    return torch.load(out)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a small pool and fit (seconds)")
    parser.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tiny:
        args.pool, args.labels, args.epochs = 20_000, 512, 1
    if args.rank is not None:
        return rank_main(args)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    before = uptime()
    rows = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fit = fit_seconds(args, 0, 1)
        score, check = score_seconds(args)
        rows[f"1 process, {threads} thread{'s' * (threads > 1)}"] = (fit, score)
        if threads == 1:
            reference = check
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_ddp_{os.getpid()}.pt"
    ranks = two_ranks(args, out)
    out.unlink(missing_ok=True)
    rows["2 ranks (gloo), 1 thread each"] = (float(ranks["fit"]), float(ranks["score"]))
    same = torch.equal(reference, ranks["check"])
    base_fit, base_score = rows["1 process, 1 thread"]
    print(f"pool {args.pool} x {FEATURES}, fit {args.labels} labels x {args.epochs} epochs, batch {BATCH}")
    print(f"load before: {before}\nload after:  {uptime()}\n")
    print("| layout | fit s | fit speed-up | score s | score speed-up |")
    print("|---|---|---|---|---|")
    for name, (fit, score) in rows.items():
        print(f"| {name} | {fit:.2f} | {base_fit / fit:.2f}x | {score:.2f} | {base_score / score:.2f}x |")
    print(f"\ntwo-rank scores and query equal one process's: {same}")
    print(json.dumps({k: [round(v, 3) for v in r] for k, r in rows.items()}))


if __name__ == "__main__":
    main()
