"""Kill a digits run at random instants with SIGKILL, resume it, and count exact matches.

    .venv/bin/python benchmarks/kill_resume.py --kills 20 [--out /tmp/alrun_kill_resume]

A reference run goes first (same command, never killed). Each trial starts the run, waits until
its loop has begun (metrics.csv exists), sleeps a random time drawn uniformly over the reference
loop's duration (until its run.json said finished), sends SIGKILL, then runs the same command again
until it finishes. A trial matches when metrics.csv (metric columns, byte for byte) and queries.csv
equal the reference's.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from alrun.run.records import RESULT_COLUMNS

ALRUN = str(Path(sys.executable).parent / "alrun")
ARGS = ["progress=false", "strategy=margin"]
METRICS = list(RESULT_COLUMNS)


def results_text(folder: Path) -> str:
    """The metric columns of metrics.csv and all of queries.csv, as text."""
    frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
    return frame[METRICS].to_csv(index=False) + (folder / "queries.csv").read_text()


def start(folder: Path) -> subprocess.Popen[bytes]:
    """Start the run into ``folder`` (a new run, or a resume when the folder has a checkpoint)."""
    cmd = [ALRUN, *ARGS, f"hydra.run.dir={folder}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_loop(folder: Path, proc: subprocess.Popen[bytes]) -> None:
    """Block until the run's loop has begun (its metrics.csv exists) or the process ended."""
    while not (folder / "metrics.csv").exists() and proc.poll() is None:
        time.sleep(0.005)


def finished(folder: Path) -> bool:
    """Whether the run's ``run.json`` says it finished."""
    try:
        return json.loads((folder / "run.json").read_text()).get("status") == "finished"
    except (OSError, json.JSONDecodeError):
        return False


def loop_seconds(folder: Path) -> float:
    """Wall time of the reference run's loop: from metrics.csv's creation until run.json says finished
    (the interpreter's exit afterwards is left out, so every kill lands inside the loop)."""
    proc = start(folder)
    wait_for_loop(folder, proc)
    began = time.perf_counter()
    while not finished(folder):
        time.sleep(0.005)
    seconds = time.perf_counter() - began
    assert proc.wait() == 0
    return seconds


def trial(folder: Path, delay: float, reference: str) -> tuple[bool, int]:
    """Kill after ``delay`` s of loop, resume to the end; (matched, rounds done at the kill)."""
    proc = start(folder)
    wait_for_loop(folder, proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    info = folder / "run.json"
    done = json.loads(info.read_text()).get("rounds_done", 0) if info.exists() else 0
    assert start(folder).wait() == 0
    return results_text(folder) == reference, done


def main() -> None:
    """Run the reference, then the kill-and-resume trials; exit 1 unless all of them match."""
    parser = argparse.ArgumentParser(description="kill-and-resume trials on a digits run")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/alrun_kill_resume"))
    opts = parser.parse_args()
    shutil.rmtree(opts.out, ignore_errors=True)
    seconds = loop_seconds(opts.out / "reference")
    reference = results_text(opts.out / "reference")
    rng = random.Random(opts.seed)
    results = [
        trial(opts.out / f"trial{i:02d}", rng.uniform(0, seconds), reference) for i in range(opts.kills)
    ]
    matched = sum(ok for ok, _ in results)
    print(f"reference loop {seconds:.2f} s; rounds done at each kill: {[d for _, d in results]}")
    print(f"{matched}/{len(results)} resumed runs matched the uninterrupted run exactly")
    sys.exit(0 if matched == len(results) else 1)


if __name__ == "__main__":
    main()
