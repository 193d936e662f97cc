"""An ensemble round (M members trained as one batched model) against M separate fits of its member.

    .venv/bin/python benchmarks/bench_ensemble.py [--members 5] [--repeats 5] [--threads 1] [--tiny]

One process, interleaved: each repeat times one ``model=ensemble`` round and then M rounds of the
member model alone, built from the shipped configs (``experiment=digits_deeplay``: Adam 1e-3, batch
32, 100 epochs, fused fit mode, the shipped CPU trainer). A round is fit + evaluate (test set) +
query (BALD over the M members' predictions of the unlabelled pool; for the separate fits, each
model scores the pool and BALD is computed from the stacked predictions). Prints the median of
each phase and the ratio separate / ensemble.
Workloads: digits MLP 64-64-10 at 100 and 500 labels, digits CNN (images 1x8x8, 16 channels) at 200.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from alrun.active.loop import fit
from alrun.cli import config_dir
from alrun.config.instantiation import instantiate_checked
from alrun.run.experiment import build_strategy, quiet_lightning
from alrun.seeding import Streams
from alrun.strategies import scores
from alrun.strategies.base import QueryContext


@dataclass(frozen=True)
class Workload:
    """One benchmark setting."""

    name: str
    overrides: tuple[str, ...]
    labels: int


WORKLOADS = (
    Workload("digits MLP 64-64", ("model@model.member=mlp",), 100),
    Workload("digits MLP 64-64", ("model@model.member=mlp",), 500),
    Workload(
        "digits CNN", ("model@model.member=cnn", "dataset.images=true", "model.member.channels=16"), 200
    ),
)


def compose_cfg(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("config", overrides=["experiment=digits_deeplay", "progress=false", *overrides])


def configs(w: Workload, members: int, epochs: int) -> tuple[DictConfig, DictConfig]:
    """The ensemble's config and its member's (the same member settings, as a model of its own)."""
    common = [f"trainer.max_epochs={epochs}", f"initial_size={w.labels}", "budget=20", "strategy=random"]
    ens = compose_cfg([*common, "model=ensemble", f"model.members={members}", *w.overrides])
    member_options = [
        o.replace("model@model.member=", "model=").replace("model.member.", "model.") for o in w.overrides
    ]
    return ens, compose_cfg([*common, *member_options])


def one_round(
    cfg: DictConfig, splits: Any, member_scores: bool
) -> tuple[tuple[float, float, float], torch.Tensor]:
    """Fit, evaluate and score one Strategy built from ``cfg``; the phase times and the pool's
    ``[M, N, C]`` (ensemble) or ``[1, N, C]`` log-probabilities."""
    s = build_strategy(cfg, splits, Streams(0))
    s.label_initial(cfg.initial_size, "random")
    trainer = instantiate_checked(cfg.trainer, "trainer")
    t0 = time.perf_counter()
    fit(s, trainer())
    t1 = time.perf_counter()
    s.evaluate()
    t2 = time.perf_counter()
    pool = s.train_pool
    gen = torch.Generator().manual_seed(0)
    ctx = QueryContext(
        x=pool.data.x, rows=pool.unlabelled_rows(), net=s.net, chunk_size=4096, tiebreak=gen, acquisition=gen
    )
    if member_scores:
        from alrun.strategies.samples import member_log_probs

        lp = member_log_probs(ctx)
    else:
        lp = ctx.log_probs()[None]
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2), lp


def run(w: Workload, members: int, repeats: int, epochs: int) -> dict[str, Any]:
    """Interleaved repeats of one ensemble round and M separate rounds."""
    ens_cfg, member_cfg = configs(w, members, epochs)
    splits = instantiate_checked(ens_cfg.dataset, "dataset")
    ens: list[tuple[float, float, float]] = []
    sep: list[tuple[float, float, float]] = []
    for _ in range(repeats):
        times, lp = one_round(ens_cfg, splits, True)
        t = time.perf_counter()
        scores.bald(lp)
        ens.append((times[0], times[1], times[2] + time.perf_counter() - t))
        parts = [one_round(member_cfg, splits, False) for _ in range(members)]
        t = time.perf_counter()
        scores.bald(torch.cat([p[1] for p in parts]))
        bald_s = time.perf_counter() - t
        sep.append(tuple(sum(p[0][i] for p in parts) + (bald_s if i == 2 else 0.0) for i in range(3)))  # type: ignore[arg-type]
    med = {
        name: [statistics.median(r[i] for r in rows) for i in range(3)]
        for name, rows in (("ens", ens), ("sep", sep))
    }
    return {"name": w.name, "labels": w.labels, **med}


def main() -> None:
    """Run every workload and print a markdown table."""
    parser = argparse.ArgumentParser(description="ensemble round vs M separate fits")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for the test suite")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    quiet_lightning()
    epochs, repeats = (2, 1) if opts.tiny else (100, opts.repeats)
    workloads = WORKLOADS[:1] if opts.tiny else WORKLOADS
    rows = [run(w, opts.members, repeats, epochs) for w in workloads]
    print(
        f"M = {opts.members}, {epochs} epochs, {repeats} interleaved repeats, CPU, {opts.threads} thread(s)"
    )
    print("| workload | labels | ensemble fit / eval / query s | separate fit / eval / query s | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        ens, sep = r["ens"], r["sep"]
        cells = [" / ".join(f"{v:.3f}" for v in phase) for phase in (ens, sep)]
        print(f"| {r['name']} | {r['labels']} | {cells[0]} | {cells[1]} | {sum(sep) / sum(ens):.2f}x |")


if __name__ == "__main__":
    main()
