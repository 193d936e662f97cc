"""Scoring a large pool: time and memory of one query as the pool grows to 1,000,000 items.

    .venv/bin/python benchmarks/bench_large_pool.py [--sizes 125000 250000 500000 1000000] [--tiny]

A synthetic pool (64 features, 10 classes) is scored by alrun's query path (``Strategy.query_strategy``:
chunked ``inference_mode`` forward passes, float64 entropies from log-probabilities, seeded top-k of
1,000) with an MLP 64-256-256-10. Time should grow linearly with the pool and the extra memory stay
proportional to N x C (the float64 log-probabilities), never to N x hidden width.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import time

import torch

from alrun.active.pool import ActivePool
from alrun.active.strategy import Strategy
from alrun.data.tensors import TensorData
from alrun.models.nets import MLP
from alrun.seeding import Streams
from alrun.strategies import Entropy


def pool_of(n: int, generator: torch.Generator) -> TensorData:
    """``n`` random items with 64 features and 10 classes."""
    return TensorData(
        torch.randn(n, 64, generator=generator),
        torch.randint(0, 10, (n,), generator=generator),
        torch.arange(n),
    )


def rss_mib() -> float:
    """This process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n: int, repeats: int) -> tuple[float, float]:
    """Median seconds of one query over a pool of ``n`` items, and the peak RSS growth it caused."""
    gen = torch.Generator().manual_seed(0)
    data = pool_of(n, gen)
    s = Strategy(
        functools.partial(MLP, (64,), 10, hidden=(256, 256)),
        Entropy(),
        ActivePool(data),
        pool_of(10, gen),
        functools.partial(torch.optim.Adam),
        Streams(0),
    )
    s.train_pool.label(torch.arange(1000).numpy(), 0)
    before = rss_mib()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        s.query_strategy(s.train_pool, 1000)
        times.append(time.perf_counter() - start)
    return statistics.median(times), rss_mib() - before


def main() -> None:
    """Print seconds, seconds per million items and memory growth per pool size."""
    parser = argparse.ArgumentParser(description="large-pool scoring")
    parser.add_argument("--sizes", type=int, nargs="+", default=[125_000, 250_000, 500_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    sizes = [5_000, 10_000] if opts.tiny else opts.sizes
    print("| pool items | query s | s per 1M items | peak RSS growth MiB | data MiB |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        seconds, grown = measure(n, 1 if opts.tiny else opts.repeats)
        print(f"| {n:,} | {seconds:.3f} | {seconds / n * 1e6:.3f} | {grown:.0f} | {n * 64 * 4 / 2**20:.0f} |")


if __name__ == "__main__":
    main()
