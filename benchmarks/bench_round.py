"""alrun's round (fit + test + score) against a plain PyTorch loop doing the same arithmetic.

    .venv/bin/python benchmarks/bench_round.py [--repeats 7] [--threads 2] [--only digits] [--tiny] [--json F]

The plain loop, alrun's default (``fit_mode=auto``, which takes the fast path here) and alrun on
Lightning's own loop (``fit_mode=lightning``: one ``training_step`` per mini-batch) run interleaved in
one process (this VM drifts by ±30% between processes), from the same initial weights, the same
per-epoch permutations and the same mini-batches, each round with a fresh Trainer built by the run's
own ``TrainerFactory``; the script checks that all end with bit-identical weights, then prints
medians per phase and the total ratio alrun / plain.
Workloads: digits (MLP 64-256-256-10, batch 64, 30 epochs) at 100, 500 and 1,000 labels, and a
synthetic 60,000 x 784, 10-class pool (MLP 784-512-512-10, batch 64, 5 epochs) with 10,000 labels.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from alrun.active.pool import ActivePool
from alrun.active.strategy import Strategy
from alrun.cli import config_dir
from alrun.data.bundled import digits
from alrun.data.splits import Splits, split_arrays
from alrun.models.nets import MLP
from alrun.run.experiment import quiet_lightning
from alrun.seeding import Streams
from alrun.strategies import Entropy, scores
from alrun.training.trainers import TrainerFactory

CHUNK = 4096
DEVICE = torch.device("cpu")  # --device cuda runs both paths on the GPU


def sync() -> None:
    """Wait for queued GPU work, so wall-clock phases are measured correctly."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


@dataclass(frozen=True)
class Workload:
    """One benchmark setting."""

    name: str
    data: Callable[[], Splits]
    labels: int
    hidden: tuple[int, ...]
    epochs: int
    batch: int
    k: int


def synthetic(n: int, features: int, test: int) -> Splits:
    """A make_classification pool (10 classes, 50 informative features) with a fixed test split."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n, features, n_informative=50, n_classes=10, random_state=0)
    return split_arrays("synthetic", x.astype(np.float32), y, test / n, 0)


def workloads(tiny: bool) -> list[Workload]:
    """The benchmark's workloads (shrunk with ``tiny`` so a test can run the script)."""
    digits500 = functools.partial(digits, test_fraction=500 / 1797)
    if tiny:
        return [
            Workload("digits-L50", digits500, 50, (32,), 2, 16, 10),
            Workload("synthetic-L200", functools.partial(synthetic, 1200, 784, 200), 200, (64,), 1, 64, 20),
        ]
    return [Workload(f"digits-L{n}", digits500, n, (256, 256), 30, 64, 100) for n in (100, 500, 1000)] + [
        Workload(
            "synthetic-L10000",
            functools.partial(synthetic, 70_000, 784, 10_000),
            10_000,
            (512, 512),
            5,
            64,
            1000,
        )
    ]


def make_trainer(epochs: int) -> TrainerFactory:
    """The shipped ``trainer=cpu`` (or ``trainer=gpu``) config, as a user gets it: a fresh Trainer
    (and fresh callbacks, none by default) for every round."""
    trainer = "gpu" if DEVICE.type == "cuda" else "cpu"
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=[f"trainer={trainer}", f"trainer.max_epochs={epochs}"])
    return TrainerFactory.from_config(cfg)


def build(w: Workload, splits: Splits, mode: str) -> Strategy:
    """An alrun Strategy (``fit_mode=mode``: ``auto`` or ``lightning``) with ``w.labels`` random labels."""
    net = functools.partial(MLP, splits.input_shape, splits.n_classes, hidden=w.hidden)
    s = Strategy(
        net,
        Entropy(),
        ActivePool(splits.train),
        splits.test,
        functools.partial(torch.optim.Adam, lr=1e-3),
        Streams(0),
        batch_size=w.batch,
        eval_batch_size=CHUNK,
        fit_mode=mode,
    )
    s.label_initial(w.labels, "random")
    return s


Phases = tuple[float, float, float, float]  # fit, test, score wall seconds; CPU seconds of all three


def alrun_round(s: Strategy, trainers: TrainerFactory, k: int) -> Phases:
    """fit + evaluate + score with alrun; returns the phase times and leaves the trained weights."""
    sync()
    c0, t0 = time.process_time(), time.perf_counter()
    trainers(0).fit(s)
    sync()
    t1 = time.perf_counter()
    s.evaluate()
    t2 = time.perf_counter()
    s.query_strategy(s.train_pool, k)
    sync()
    return t1 - t0, t2 - t1, time.perf_counter() - t2, time.process_time() - c0


def plain_round(s: Strategy, w: Workload) -> tuple[Phases, torch.nn.Module]:
    """The same arithmetic in plain PyTorch: randperm + one gather per epoch, contiguous slices,
    ``inference_mode`` evaluation and entropy scoring in 4096-item chunks, ``topk``."""
    net = s.fitting.net_factory()
    net.load_state_dict(s.fitting.snapshot or s.net.state_dict())
    net.to(DEVICE)
    data, gen = s.train_pool.labelled_data().to(DEVICE), s.streams.torch("train", 0)
    test, pool = s.test_data.to(DEVICE), s.train_pool.unlabelled_data().x.to(DEVICE)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sync()
    c0, t0 = time.process_time(), time.perf_counter()
    net.train()
    for _ in range(w.epochs):
        perm = torch.randperm(len(data), generator=gen).to(DEVICE)
        xs, ys = data.x[perm], data.y[perm]
        for i in range(0, len(ys), w.batch):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xs[i : i + w.batch]), ys[i : i + w.batch]).backward()
            opt.step()
    sync()
    t1 = time.perf_counter()
    net.eval()
    with torch.inference_mode():
        hits = sum(
            int((net(test.x[i : i + CHUNK]).argmax(1) == test.y[i : i + CHUNK]).sum())
            for i in range(0, len(test), CHUNK)
        )
        assert hits >= 0
        t2 = time.perf_counter()
        h = torch.cat(
            [
                scores.entropy(net(pool[i : i + CHUNK]).double().log_softmax(-1))
                for i in range(0, len(pool), CHUNK)
            ]
        )
        h.topk(w.k)
    sync()
    return (t1 - t0, t2 - t1, time.perf_counter() - t2, time.process_time() - c0), net


def matmul_peak() -> float:
    """Measured fp32 GEMM throughput (GFLOP/s), 4096 x 4096, median of 5."""
    a, b = torch.randn(4096, 4096, device=DEVICE), torch.randn(4096, 4096, device=DEVICE)
    a @ b
    times = []
    for _ in range(5):
        sync()
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    return 2 * 4096**3 / statistics.median(times) / 1e9


def forward_flops(net: torch.nn.Module) -> int:
    """FLOPs of one sample's forward pass through the linear layers (2 per multiply-add)."""
    return sum(2 * m.in_features * m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))


MODES = ("auto", "lightning")  # alrun's default (the fast path here) and Lightning's own loop


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Bit-identical parameters."""
    return all(
        torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def run(w: Workload, repeats: int, peak: float) -> dict[str, Any]:
    """Interleaved repeats of the plain loop and each alrun mode on one workload: medians of each
    phase, total ratios to the plain loop, weight equality, and the scoring share of the GEMM peak."""
    splits = w.data()
    trainer = make_trainer(w.epochs)
    models = {mode: build(w, splits, mode) for mode in MODES}
    times: dict[str, list[Phases]] = {k: [] for k in ("plain", *MODES)}
    identical = True
    for rep in range(repeats + 1):  # the first cycle warms up and is not counted
        phases, net = plain_round(models["auto"], w)
        cycle = {"plain": phases}
        for mode, s in models.items():
            cycle[mode] = alrun_round(s, trainer, w.k)
            identical &= same_weights(net, s.net)
            s.reset_model()
        if rep:
            for key, value in cycle.items():
                times[key].append(value)
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in times.items()}
    s = models["auto"]
    assert s.fitting.path is not None
    return {
        "workload": w.name,
        "default_path": s.fitting.path.name,
        "identical_weights": identical,
        **med,
        **{f"ratio_{m}": sum(med[m][:3]) / sum(med["plain"][:3]) for m in MODES},
        **{f"cpu_ratio_{m}": med[m][3] / med["plain"][3] for m in MODES},
        "score_share_of_peak": len(s.train_pool.unlabelled())
        * forward_flops(s.net)
        / med["auto"][2]
        / 1e9
        / peak,
    }


HEADER = (
    "| workload | plain fit / test / score s | alrun default: fit / test / score s | alrun lightning: fit s "
    "| total x, default (path) | total x, lightning | CPU-time x, default / lightning | scoring % of peak "
    "| identical weights |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---|"
)


def table_row(r: dict[str, Any]) -> str:
    """One markdown row of a workload's result."""
    plain, default = (" / ".join(f"{t:.4f}" for t in r[k][:3]) for k in ("plain", "auto"))
    return (
        f"| {r['workload']} | {plain} | {default} | {r['lightning'][0]:.4f} | {r['ratio_auto']:.3f} "
        f"({r['default_path']}) | {r['ratio_lightning']:.3f} | {r['cpu_ratio_auto']:.3f} / "
        f"{r['cpu_ratio_lightning']:.3f} | {100 * r['score_share_of_peak']:.0f}% | {r['identical_weights']} |"
    )


def main() -> None:
    """Run every workload and print a markdown table."""
    parser = argparse.ArgumentParser(description="alrun round vs plain PyTorch")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both paths run there)")
    parser.add_argument("--only", default="", help="run only the workloads whose name contains this")
    opts = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(opts.device)
    torch.set_num_threads(opts.threads)
    quiet_lightning()
    peak = matmul_peak()
    chosen = [w for w in workloads(opts.tiny) if opts.only in w.name]
    rows = [run(w, 1 if opts.tiny else opts.repeats, peak) for w in chosen]
    where = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else f"CPU, {opts.threads} threads"
    print(f"matmul peak {peak:.0f} GFLOP/s ({where}), {opts.repeats} interleaved repeats")
    print(HEADER)
    for r in rows:
        print(table_row(r))
    if opts.json:
        opts.json.write_text(json.dumps({"peak_gflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
