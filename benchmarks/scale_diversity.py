"""Scale check of the embedding strategies: core-set and BADGE on a large synthetic pool.

    .venv/bin/python benchmarks/scale_diversity.py           # 200,000 x 128, 10 classes, batch 1,000
    .venv/bin/python benchmarks/scale_diversity.py --tiny    # a few seconds (the test suite runs it)

The pool's inputs *are* the embeddings: the classifier's body is the identity and its head a seeded
random linear layer, so each query goes through ``QueryContext``, the embeddings module and the
strategy exactly as in a run. BADGE's gradient embeddings are ``classes x dim`` wide (1,280 at full
size). Each strategy runs in a fresh process so that its peak memory is its own (``--in-process``
runs them in this one, as ``--tiny`` does). One line per strategy: seconds for one query (the
forward pass included), resident memory before the query and the process's peak (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import torch
from torch import nn

STRATEGIES = ("coreset", "badge")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="unlabelled pool items")
    p.add_argument("--dim", type=int, default=128, help="embedding dimension")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--labelled", type=int, default=1_000, help="labelled items")
    p.add_argument("--batch", type=int, default=1_000, help="items picked by the query")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--tiny", action="store_true", help="2,000 x 16, batch 20, in this process")
    p.add_argument("--in-process", action="store_true", help="run every strategy in this process")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny:
        args.n, args.dim, args.labelled, args.batch, args.in_process = 2_000, 16, 50, 20, True
    return args


def rss_mib() -> float:
    """Current resident memory of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def make_context(args: argparse.Namespace) -> Any:
    """A QueryContext over a seeded Gaussian-mixture pool whose inputs are the embeddings."""
    from alrun.models.nets import Classifier
    from alrun.seeding import Streams
    from alrun.strategies import QueryContext

    gen = torch.Generator().manual_seed(args.seed)
    centers = 3.0 * torch.randn(args.classes, args.dim, generator=gen)
    total = args.n + args.labelled
    x = centers[torch.randint(args.classes, (total,), generator=gen)]
    x += torch.randn(total, args.dim, generator=gen)
    net = Classifier()
    net.body, net.head = nn.Identity(), nn.Linear(args.dim, args.classes)
    with torch.no_grad():
        net.head.weight.copy_(0.1 * torch.randn(args.classes, args.dim, generator=gen))
        net.head.bias.zero_()
    streams = Streams(args.seed)
    return QueryContext(
        x=x[: args.n],
        net=net.eval(),
        chunk_size=4096,
        tiebreak=streams.torch("tiebreak", 1),
        acquisition=streams.torch("acquisition", 1),
        labelled_x=x[args.n :],
    )


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build the pool, run one query of ``name``, and report time and memory."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from alrun.cli import config_dir

    acquisition = instantiate(OmegaConf.load(f"{config_dir()}/strategy/{name}.yaml"))
    ctx = make_context(args)
    before = rss_mib()
    start = time.perf_counter()
    picked = acquisition.select(ctx, args.batch)
    seconds = time.perf_counter() - start
    index = picked.index.tolist()
    assert len(set(index)) == args.batch and min(index) >= 0 and max(index) < args.n
    return {
        "strategy": name,
        "n": args.n,
        "dim": args.dim,
        "classes": args.classes,
        "batch": args.batch,
        "query_s": round(seconds, 3),
        "rss_before_mib": round(before, 1),
        # the kernel updates ru_maxrss lazily: it can trail the current resident size a little
        "peak_rss_mib": round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss_mib()), 1),
    }


def run_child(name: str, argv: list[str]) -> dict[str, Any]:
    """Run one strategy in a fresh process; its last stdout line is the JSON result."""
    cmd = [sys.executable, __file__, *argv, "--child", "--strategies", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; returns one result per strategy."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.strategies[0], args)))
        return []
    parent = [a for a in argv if a != "--strategies" and a not in STRATEGIES]
    results = [
        measure(name, args) if args.in_process else run_child(name, parent) for name in args.strategies
    ]
    pool = f"{args.n:,} x {args.dim} ({args.classes} classes), {args.labelled:,} labelled"
    print(f"pool {pool}, batch {args.batch:,}, {args.threads} torch threads")
    for r in results:
        mem = f"rss before {r['rss_before_mib']:7.1f} MiB, peak {r['peak_rss_mib']:7.1f} MiB"
        print(f"{r['strategy']:>8}: {r['query_s']:8.2f} s per query, {mem}")
    return results


if __name__ == "__main__":
    main()
