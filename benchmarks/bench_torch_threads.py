"""What a second thread gives plain PyTorch on this machine, without alrun: the ceiling for
``bench_contention.py``'s speed-up column.

    .venv/bin/python benchmarks/bench_torch_threads.py [--repeats 3] [--batch 64] [--steps 400]
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_torch_threads.py   # the passive wait

Times, interleaved 1 and 2 threads in one process (``GOMP_SPINCOUNT=30000`` unless the environment
sets a wait: what ``alrun`` chooses on a quiet machine): a training step (forward, cross-entropy,
backward, Adam) of the MLP 784-512-512-10 of the synthetic workload at ``--batch``, and a 2048 x 2048
float32 matrix product. Medians of the repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

if not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):  # before torch loads its OpenMP runtime
    os.environ["GOMP_SPINCOUNT"] = "30000"

import torch
from torch import nn


def step_ms(batch: int, steps: int) -> float:
    """Milliseconds per training step of the 784-512-512-10 MLP (fresh weights, seeded)."""
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.randn(10_000, 784, generator=gen), torch.randint(0, 10, (10_000,), generator=gen)
    start = 0.0
    for i in range(steps + 20):  # 20 warm-up steps
        if i == 20:
            start = time.perf_counter()
        idx = torch.randint(0, 10_000, (batch,), generator=gen)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def gemm_ms() -> float:
    """Milliseconds per 2048 x 2048 float32 matrix product."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    return (time.perf_counter() - start) / 10 * 1e3


def main() -> None:
    """Print a markdown table: ms at 1 and 2 threads and the speed-up."""
    parser = argparse.ArgumentParser(description="plain PyTorch, 1 and 2 threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=400)
    opts = parser.parse_args()
    wait = {k: v for k, v in os.environ.items() if k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    print(f"OpenMP wait: {wait}; load average at start: {os.getloadavg()[0]:.2f}")
    work = {f"MLP 784-512-512-10 step, batch {opts.batch}": lambda: step_ms(opts.batch, opts.steps)}
    work["2048 x 2048 matrix product"] = gemm_ms
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(opts.repeats):
        for name, measure in work.items():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                times.setdefault((name, threads), []).append(measure())
    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    print("| work | 1 thread ms | 2 threads ms | speed-up |\n|---|---:|---:|---:|")
    for name in work:
        one, two = (statistics.median(times[(name, t)]) for t in (1, 2))
        print(f"| {name} | {one:.2f} | {two:.2f} | {one / two:.2f} |")


if __name__ == "__main__":
    main()
