"""Synthetic run folders with known numbers, laid out as alrun and Hydra leave them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

DEFAULT_N = (10, 14, 18, 20)  # budget 10, query_size 4: the last round is partial (2 labels)


def write_run(
    folder: Path,
    strategy: str,
    seed: int,
    acc: Sequence[float],
    n_labelled: Sequence[int] = DEFAULT_N,
    *,
    status: str = "finished",
    budget: int = 10,
    query_size: int = 4,
    overrides: Sequence[str] = (),
    rows: int | None = None,
    extra: dict[str, Sequence[float]] | None = None,
    stopped: dict[str, object] | None = None,
) -> Path:
    """Write ``.hydra/``, ``metrics.csv`` (``rows`` of them, with an extra column, and the ``extra``
    metric columns) and ``run.json`` (with ``stopped``, as a run stopped by a rule records it)."""
    hydra_dir = folder / ".hydra"
    hydra_dir.mkdir(parents=True)
    task = [f"strategy={strategy}", f"seed={seed}", *overrides]
    choices = {"dataset": "digits", "model": "mlp", "strategy": strategy, "hydra/launcher": "basic"}
    hydra = {"hydra": {"runtime": {"choices": choices}, "overrides": {"task": task, "hydra": []}}}
    (hydra_dir / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    cfg = {"seed": seed, "budget": budget, "query_size": query_size, "strategy": {"_target_": "x.Y"}}
    (hydra_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    n = len(acc) if rows is None else rows
    extra = extra or {}
    lines = [",".join(["round,n_labelled,test/acc,test/loss,query/score_mean", *extra])]
    lines += [
        ",".join([f"{i},{n_labelled[i]},{acc[i]!r},1.0,0.5", *(repr(v[i]) for v in extra.values())])
        for i in range(n)
    ]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    info = {"status": status, "seed": seed, "n_rounds": len(acc) - 1, "rounds_done": n}
    info |= {"versions": {"alrun": "0.1.0"}, "git_commit": None}
    if status == "failed":
        info["reason"] = "RuntimeError: boom"
    if stopped is not None:
        info["stopped"] = stopped
    (folder / "run.json").write_text(json.dumps(info))
    return folder


def write_sweep(root: Path, curves: dict[str, Sequence[Sequence[float]]]) -> Path:
    """One run per (strategy, seed): ``curves[strategy][seed]`` is its accuracy curve."""
    for strategy, per_seed in curves.items():
        for seed, acc in enumerate(per_seed):
            write_run(root / f"seed={seed},strategy={strategy}", strategy, seed, acc)
    return root
