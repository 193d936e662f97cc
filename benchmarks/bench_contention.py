"""Thread settings on a quiet and on a busy machine: how long a run's rounds take.

    .venv/bin/python benchmarks/bench_contention.py [--repeats 3] [--workloads digits,synthetic]
        [--policies default,1,2,2-passive] [--before /path/to/other/venv/bin/alrun] [--tiny]

Each policy runs the installed ``alrun`` command in a fresh process (an OpenMP wait policy is read
when torch loads), once on the machine as it is ("quiet") and once with one CPU-bound process beside
it ("busy": a Python busy loop, one core); rounds time = the sum of the rounds' ``total_s`` in
``metrics.csv`` (fit + evaluation + query; imports and data loading left out). Policies and
conditions are interleaved within each repeat, so drift hits them alike; medians are printed with
the busy / quiet ratio and, per policy, the speed-up over one thread. ``--before`` adds the default
of another alrun install (e.g. an older commit's venv) as the policy ``before``.
The load average (``os.getloadavg``) is printed at the start and the end, and each row shows the
range of the 1-minute load read after its runs: "quiet" means quiet only when that load was near 0
(the hog adds about 1).

Policies: ``default`` (no setting: the config's ``threads`` default and the wait ``alrun`` chooses at
start, recorded in ``run.json`` and shown in the table), ``1`` / ``2`` (``threads=N``, libgomp's default
wait: spin ~3 ms, ``GOMP_SPINCOUNT=300000``), ``2-short`` (``threads=2``, ``GOMP_SPINCOUNT=30000``:
spin ~0.3 ms), ``2-passive`` (``threads=2``, ``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep at once).
Workloads: ``digits``: the default experiment (``alrun``: digits, MLP 64-64-64-10, margin, 10 fits
of 100 epochs); ``synthetic``: a 60,000 x 784 pool, 10,000 initial labels, MLP 784-512-512-10,
batch 64, 5 epochs, one query of 1,000 (two fits, one score of 50,000 items).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ALRUN = str(Path(sys.executable).parent / "alrun")
# a busy loop that ends by itself when this script is gone
HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass\n"
SPIN = {"GOMP_SPINCOUNT": "300000"}  # libgomp's wait when OMP_WAIT_POLICY is not set
POLICIES: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "1": (["threads=1"], SPIN),
    "2": (["threads=2"], SPIN),
    "2-short": (["threads=2"], {"GOMP_SPINCOUNT": "30000"}),
    "2-passive": (["threads=2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
}
SYNTHETIC = [
    "dataset=synthetic",
    "dataset.n_samples=70000",
    "dataset.n_features=784",
    "dataset.n_informative=50",
    "dataset.n_classes=10",
    "dataset.test_fraction=0.142857",
    "model.hidden=[512,512]",
    "batch_size=64",
    "trainer.max_epochs=5",
    "initial_size=10000",
    "budget=1000",
    "query_size=1000",
]
Times = dict[tuple[str, str, bool], list[float]]  # (workload, policy, busy) -> rounds seconds
LOADS: dict[tuple[str, str, bool], list[float]] = {}  # the same keys -> 1-minute load after each run
WAITS: dict[tuple[str, str, bool], set[str]] = {}  # the same keys -> run.json's openmp_wait
WORKLOADS = {"digits": [], "synthetic": SYNTHETIC}
TINY = {
    "digits": ["budget=20", "trainer.max_epochs=5"],
    "synthetic": ["dataset.n_samples=3000", "initial_size=500", "budget=100", "query_size=100"],
}


@contextmanager
def cpu_hog(busy: bool) -> Iterator[None]:
    """One CPU-bound process (a Python busy loop) for the duration, when ``busy``."""
    proc = subprocess.Popen([sys.executable, "-c", HOG]) if busy else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def rounds_seconds(alrun: str, args: list[str], env: dict[str, str], folder: Path) -> tuple[float, str]:
    """Run ``alrun`` with ``args``; the sum of its rounds' ``total_s`` and its OpenMP wait."""
    cmd = [alrun, *args, "progress=false", f"hydra.run.dir={folder}"]
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    subprocess.run(cmd, check=True, capture_output=True, env={**base, **env}, cwd=folder.parent)
    with open(folder / "metrics.csv") as f:
        seconds = sum(float(row["total_s"]) for row in csv.DictReader(f))
    return seconds, json.loads((folder / "run.json").read_text())["openmp_wait"]


def load() -> str:
    """The load averages (1, 5, 15 minutes)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Print the medians as a markdown table."""
    parser = argparse.ArgumentParser(description="alrun thread settings, quiet and busy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default="digits,synthetic")
    parser.add_argument("--policies", default="default,1,2,2-passive")
    parser.add_argument("--before", help="another install's alrun command: its default as policy 'before'")
    parser.add_argument("--tiny", action="store_true", help="tiny runs, one repeat, for the test suite")
    opts = parser.parse_args()
    runs = {name: (ALRUN, *POLICIES[name]) for name in opts.policies.split(",")}
    if opts.before:
        runs["before"] = (opts.before, [], {})
    workloads = opts.workloads.split(",")
    times: Times = {}
    print(f"load average at start: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(1 if opts.tiny else opts.repeats):
            for work in workloads:
                args = [*WORKLOADS[work], *(TINY[work] if opts.tiny else [])]
                for busy in (False, True):
                    with cpu_hog(busy):
                        for name, (alrun, extra, env) in runs.items():
                            folder = Path(tmp) / f"{rep}-{work}-{name}-{busy}"
                            seconds, wait = rounds_seconds(alrun, [*args, *extra], env, folder)
                            WAITS.setdefault((work, name, busy), set()).add(wait)
                            times.setdefault((work, name, busy), []).append(seconds)
                            LOADS.setdefault((work, name, busy), []).append(os.getloadavg()[0])
                            state = "busy" if busy else "quiet"
                            print(f"{work} {name} {state}: {seconds:.2f} s, load {load()}", file=sys.stderr)
            print(f"repeat {rep + 1} done, load {load()}", file=sys.stderr, flush=True)
    print(f"load average at end: {load()}\n")
    report(times, workloads, list(runs))


def report(times: Times, workloads: list[str], names: list[str]) -> None:
    """The table: medians quiet and busy, busy / quiet, speed-up over ``threads=1`` (quiet)."""
    print(
        "| workload | policy | quiet rounds s | busy rounds s | busy / quiet | speed-up vs 1 thread "
        "| load quiet | load busy | wait quiet / busy |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for work in workloads:
        one = times.get((work, "1", False))
        for name in names:
            quiet = statistics.median(times[(work, name, False)])
            busy = statistics.median(times[(work, name, True)])
            speedup = f"{statistics.median(one) / quiet:.2f}" if one else "-"
            loads = [span(LOADS.get((work, name, b), [])) for b in (False, True)]
            waits = " / ".join(", ".join(sorted(WAITS.get((work, name, b), set()))) for b in (False, True))
            print(
                f"| {work} | {name} | {quiet:.2f} | {busy:.2f} | {busy / quiet:.2f} | {speedup} "
                f"| {loads[0]} | {loads[1]} | {waits} |"
            )


def span(values: list[float]) -> str:
    """``min-max`` of the loads (one value when they agree to 0.1)."""
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low:.1f}" if high - low < 0.05 else f"{low:.1f}-{high:.1f}"


if __name__ == "__main__":
    main()
