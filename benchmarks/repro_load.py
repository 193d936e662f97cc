"""Same seed, same thread count, two processes, a busy machine: are the metrics bit-identical?

    .venv/bin/python benchmarks/repro_load.py [--threads 2] [--reps 4] [--hogs 2]
        [--env KEY=VALUE ...] [--args experiment=smoke ...]

Starts ``--hogs`` CPU-bound processes, then two worker processes at once; each runs the same
experiment ``--reps`` times in-process through ``run_loop`` (Hydra compose, as the tests do) with
``torch.set_num_threads(--threads)`` and prints, per repetition, a hash of the metric columns and
round 0's ``query/score_mean``. Every hash of both processes must be equal. ``--env`` sets variables
in the workers' environment before torch loads (OpenMP and MKL read theirs then).
The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass\n"
DEFAULT_ARGS = ["experiment=smoke", "strategy=margin", "reset=snapshot", "budget=10", "query_size=2"]


def worker(threads: int, reps: int, args: list[str]) -> None:
    """Run the experiment ``reps`` times; print one JSON line per repetition."""
    import pandas as pd
    import torch
    from hydra import compose, initialize_config_dir

    from alrun.active.loop import run_loop
    from alrun.cli import config_dir
    from alrun.run.experiment import build, quiet_lightning
    from alrun.run.records import RESULT_COLUMNS

    quiet_lightning()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=args)
    torch.set_num_threads(threads)
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            exp = build(cfg, Path(tmp) / "run")
            run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers)
            frame = pd.read_csv(Path(tmp) / "run" / "metrics.csv", dtype=str, keep_default_na=False)
        text = frame[list(RESULT_COLUMNS)].to_csv(index=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        line = {"rep": rep, "hash": digest, "score_mean0": frame["query/score_mean"][0]}
        print(json.dumps(line), flush=True)


def cli_cmd(opts: argparse.Namespace, folder: Path) -> list[str]:
    """The ``alrun`` command for one run into ``folder`` (``--reps`` is 1 then)."""
    alrun = str(Path(sys.executable).parent / "alrun")
    return [alrun, *opts.args, f"threads={opts.threads}", "progress=false", f"hydra.run.dir={folder}"]


def cli_result(folder: Path) -> str:
    """A worker's JSON line for the alrun run in ``folder``."""
    import pandas as pd

    from alrun.run.records import RESULT_COLUMNS

    frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
    text = frame[list(RESULT_COLUMNS)].to_csv(index=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return json.dumps({"rep": 0, "hash": digest, "score_mean0": frame["query/score_mean"][0]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="2", help="a number, or null (torch's default) with --cli")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="workers started at once")
    parser.add_argument("--cli", action="store_true", help="workers run the alrun command instead")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workers")
    parser.add_argument("--args", nargs="*", default=DEFAULT_ARGS, help="config overrides")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        worker(int(opts.threads), opts.reps, opts.args)
        return
    env = dict(os.environ, **dict(item.split("=", 1) for item in opts.env))
    cmd = [sys.executable, __file__, "--worker", "--threads", str(opts.threads), "--reps", str(opts.reps)]
    cmd += ["--args", *opts.args]
    print(f"load average at start: {os.getloadavg()[0]:.2f}; env: {' '.join(opts.env) or '(none)'}")
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(opts.hogs)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [cli_cmd(opts, Path(tmp) / f"run{i}") if opts.cli else cmd for i in range(opts.processes)]
            workers = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, text=True) for c in runs]
            outs = [w.communicate()[0] for w in workers]
            if opts.cli:
                outs = [cli_result(Path(tmp) / f"run{i}") for i in range(opts.processes)]
    finally:
        for hog in hogs:
            hog.kill()
    lines = [[json.loads(line) for line in out.splitlines() if line.startswith("{")] for out in outs]
    for i, rows in enumerate(lines):
        print(f"process {i}: " + " ".join(f"{r['hash']}({r['score_mean0']})" for r in rows))
    hashes = {r["hash"] for rows in lines for r in rows}
    within = all(len({r["hash"] for r in rows}) == 1 for rows in lines)
    print(
        f"distinct results: {len(hashes)} (within each process identical: {within}); "
        f"load average at end: {os.getloadavg()[0]:.2f}"
    )
    complete = all(len(rows) == (1 if opts.cli else opts.reps) for rows in lines)
    sys.exit(0 if len(hashes) == 1 and complete else 1)


if __name__ == "__main__":
    main()
