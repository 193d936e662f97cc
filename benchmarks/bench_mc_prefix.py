"""MC-dropout sampling with the dropout-free prefix run once, against T whole passes.

    .venv/bin/python benchmarks/bench_mc_prefix.py [--items 2000] [--samples 20 100] [--repeats 3]

Gal's CNN (``model=cnn``, 28x28, pool 2 as in ``experiment=gal2017_mnist``, and pool 5 as in Gal's code)
and BatchBALD's CNN score random MNIST-shaped candidates in chunks of 512 (the MNIST experiments'
``eval_batch_size``) through ``mc_log_probs``, once with the prefix kept (alrun's path) and once with
``CACHE_BYTES = 0`` (the whole net per pass); the two are timed alternately, side by side, and checked
to be equal to the bit. Prints the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from alrun.models.batchbald import BatchBALDCNN
from alrun.models.nets import CNN
from alrun.strategies import fixed_prefix
from alrun.strategies.base import QueryContext
from alrun.strategies.mc import mc_log_probs

NETS = {
    "cnn (pool 2)": lambda: CNN((1, 28, 28), 10),
    "cnn (pool 5)": lambda: CNN((1, 28, 28), 10, pool=5),
    "batchbald_cnn": lambda: BatchBALDCNN((1, 28, 28), 10),
}


def sample(net: nn.Module, x: torch.Tensor, samples: int, keep: bool) -> tuple[float, torch.Tensor]:
    """Seconds of one ``mc_log_probs`` call, and its samples; ``keep=False`` runs the whole net T times."""
    fixed_prefix.CACHE_BYTES = 1 << 30 if keep else 0
    gen = torch.Generator().manual_seed(0)
    ctx = QueryContext(x=x, net=net, chunk_size=512, tiebreak=gen, acquisition=gen, mc_seed=3)
    start = time.perf_counter()
    out = mc_log_probs(ctx, samples)
    return time.perf_counter() - start, out


def main() -> None:
    """Time both paths for every net and T; print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--samples", type=int, nargs="+", default=[20, 100])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.items, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    print(f"{args.items} items, {args.threads} torch thread(s), median of {args.repeats}\n")
    print("| net | T | prefix once (s) | whole net (s) | speed-up | equal |\n|---|---:|---:|---:|---:|---|")
    for name, make in NETS.items():
        torch.manual_seed(0)  # the benchmark's own toy weights
        net = make().eval()
        for samples in args.samples:
            fast, slow, equal = [], [], True
            for _ in range(args.repeats):  # alternated, so both see the same machine load
                t_fast, a = sample(net, x, samples, keep=True)
                t_slow, b = sample(net, x, samples, keep=False)
                fast.append(t_fast)
                slow.append(t_slow)
                equal &= torch.equal(a, b)
            f, s = statistics.median(fast), statistics.median(slow)
            print(f"| {name} | {samples} | {f:.2f} | {s:.2f} | {s / f:.1f}x | {equal} |", flush=True)


if __name__ == "__main__":
    main()
