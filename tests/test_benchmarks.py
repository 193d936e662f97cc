"""The benchmark scripts run in their tiny modes, so they cannot rot (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_round_benchmark_paths_are_bit_identical():
    out = run("bench_round.py", "--tiny", "--threads", "1")
    rows = [
        line for line in out.splitlines() if line.startswith("| digits") or line.startswith("| synthetic")
    ]
    assert len(rows) == 2 and all(row.rstrip(" |").endswith("True") for row in rows)
    assert all("(fast)" in row for row in rows)  # the default takes the fast path


def test_large_pool_benchmark_runs():
    out = run("bench_large_pool.py", "--tiny", "--threads", "1")
    assert "| 10,000 |" in out


def test_mc_prefix_benchmark_paths_are_bit_identical():
    out = run("bench_mc_prefix.py", "--items", "40", "--samples", "3", "--repeats", "1")
    rows = [line for line in out.splitlines() if line.startswith("| cnn") or line.startswith("| batchbald")]
    assert len(rows) == 3 and all(row.rstrip(" |").endswith("True") for row in rows)


@pytest.mark.slow
def test_contention_benchmark_runs():
    out = run("bench_contention.py", "--tiny", "--workloads", "digits", "--policies", "1,2-passive")
    assert "| digits | 2-passive |" in out and "load average at end" in out


@pytest.mark.slow
def test_startup_benchmark_runs():
    out = run("bench_startup.py", "--tiny")
    assert "| `alrun --help` (answered from its cache" in out and "| `alrun --help` (no cache" in out
    assert "peak RSS" in out and "pandas" in out.split("; not ")[-1]  # a run does not import pandas


@pytest.mark.slow
def test_ddp_benchmark_two_ranks_score_as_one_process():
    out = run("bench_ddp.py", "--tiny")
    assert "two-rank scores and query equal one process's: True" in out
    assert sum(line.startswith(("| 1 process", "| 2 ranks")) for line in out.splitlines()) == 3


@pytest.mark.slow
def test_ensemble_benchmark_runs():
    out = run("bench_ensemble.py", "--tiny", "--threads", "1")
    assert "| digits MLP 64-64 | 100 |" in out and out.rstrip().endswith("x |")
