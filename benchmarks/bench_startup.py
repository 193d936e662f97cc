"""Start-up costs: `alrun --help` wall time, import times, and the default run's peak memory.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--tiny]

Each figure is the median over fresh processes (start-up is a per-process cost).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall(cmd: list[str], repeats: int) -> float:
    """Median wall time of ``cmd`` over fresh processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mib(cmd: list[str]) -> float:
    """Peak resident memory (MiB) of one run of ``cmd`` (run in a fresh child process)."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    """Print the start-up figures as a markdown table."""
    parser = argparse.ArgumentParser(description="alrun start-up costs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="one repeat, smoke run, for the test suite")
    opts = parser.parse_args()
    n = 1 if opts.tiny else opts.repeats
    py = [sys.executable, "-c"]
    rows = {
        "`alrun --help` wall": wall([str(BIN / "alrun"), "--help"], n),
        "bad config value (`alrun budget=-1`) wall": wall_failing([str(BIN / "alrun"), "budget=-1"], n),
        "`python -c 'import alrun.cli'`": wall([*py, "import alrun.cli"], n),
        "`python -c 'import alrun.run.experiment'` (torch + lightning)": wall(
            [*py, "import alrun.run.experiment"], n
        ),
        "`python -c 'pass'` (interpreter alone)": wall([*py, "pass"], n),
    }
    with tempfile.TemporaryDirectory() as tmp:
        run = [str(BIN / "alrun"), "progress=false", f"hydra.run.dir={tmp}/run"] + (
            ["experiment=smoke"] if opts.tiny else []
        )
        start = time.perf_counter()
        rss = peak_rss_mib(run)
        rows["default run wall (digits, margin, 10 fits)"] = time.perf_counter() - start
    print("| figure | value |\n|---|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.3f} s |")
    print(f"| default run peak RSS | {rss:.0f} MiB |")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def wall_failing(cmd: list[str], repeats: int) -> float:
    """Median wall time of a command that must exit with code 2 (a config error)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert subprocess.run(cmd, capture_output=True).returncode == 2
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    main()
