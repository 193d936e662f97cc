"""Start-up costs: `alrun --help`, config errors, tab completion, imports, the default run.

Also lists which heavy packages a run's imports load (Lightning's floor: torch._dynamo,
torchmetrics and through it scipy.signal and matplotlib) and which they leave out.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--before OTHER/.venv/bin/alrun] [--tiny]

Each figure is the median over fresh processes (start-up is a per-process cost), wall clock and
CPU time (user + system: less disturbed by other processes than wall time on a busy machine).
``--before`` measures another install too (e.g. an older commit's venv), interleaved with this one
so that drift hits both alike. The load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTRA_STRATEGIES = 200
NO_CACHE = "/proc/alrun-no-cache"  # a folder that cannot be made: the help cache is never written


def timed(cmd: list[str], env: dict[str, str], code: int, cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd`` in ``cwd`` (which must exit with ``code``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env={**os.environ, **env}, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == code, (cmd, out.returncode, out.stderr[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(alrun: str, configs: Path) -> dict[str, tuple[list[str], dict[str, str], int]]:
    """The measured commands for one install: name -> (command, extra environment, exit code)."""
    py = str(Path(alrun).parent / "python")
    return {
        "`alrun --help` (answered from its cache: the second and later calls)": (
            [alrun, "--help"],
            {"XDG_CACHE_HOME": str(configs.parent / "cache")},
            0,
        ),
        "`alrun --help` (no cache: the first call after a config change)": (
            [alrun, "--help"],
            {"XDG_CACHE_HOME": NO_CACHE},
            0,
        ),
        f"`alrun --help --config-dir` (+{EXTRA_STRATEGIES} strategies: Hydra's listing)": (
            [alrun, "--help", "--config-dir", str(configs)],
            {},
            0,
        ),
        "bad value: `alrun budget=-1`": ([alrun, "budget=-1", "hydra.run.dir=bad"], {}, 2),
        "unknown option: `alrun strategy=nope`": ([alrun, "strategy=nope"], {}, 2),
        "unknown nested key (Hydra composes): `alrun strategy.typo=1`": (
            [alrun, "strategy.typo=1", "hydra.run.dir=bad"],
            {},
            2,
        ),
        "tab completion of `alrun strategy=`": (
            [alrun, "-sc", "query=bash"],
            {"COMP_LINE": "alrun strategy="},
            0,
        ),
        "`import alrun.cli`": ([py, "-c", "import alrun.cli"], {}, 0),
        "`import alrun.run.experiment` (a run's imports)": ([py, "-c", "import alrun.run.experiment"], {}, 0),
        "`import lightning` (Lightning's own floor)": ([py, "-c", "import lightning"], {}, 0),
        "`import torch`": ([py, "-c", "import torch"], {}, 0),
        "`python -c pass`": ([py, "-c", "pass"], {}, 0),
    }


def default_run(alrun: str, folder: Path, tiny: bool) -> dict[str, float]:
    """The default experiment (`make run`): wall, rounds (sum of ``total_s``), the rest, peak RSS."""
    cmd = [alrun, "progress=false", f"hydra.run.dir={folder}", *(["experiment=smoke"] if tiny else [])]
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(folder / "metrics.csv") as f:
        rounds = sum(float(row["total_s"]) for row in csv.DictReader(f))
    return {"wall": wall, "rounds": rounds, "rest": wall - rounds, "rss": int(out.stdout.split()[-1]) / 1024}


HEAVY = ("torch._dynamo", "torchmetrics", "scipy.signal", "matplotlib", "sklearn", "pandas", "alrun.report")


def imported(alrun: str) -> str:
    """Which of :data:`HEAVY` ``import alrun.run.experiment`` (a run's imports) loads, and which not."""
    py = str(Path(alrun).parent / "python")
    code = f"import sys, alrun.run.experiment; print(*[m in sys.modules for m in {HEAVY!r}])"
    flags = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    loaded = [m for m, flag in zip(HEAVY, flags, strict=True) if flag == "True"]
    return f"loads {', '.join(loaded) or '-'}; not {', '.join(m for m in HEAVY if m not in loaded) or '-'}"


def load() -> str:
    """The load averages (1, 5, 15 minutes)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    """Print the start-up figures as a markdown table."""
    parser = argparse.ArgumentParser(description="alrun start-up costs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="another install's alrun command, measured alongside")
    parser.add_argument("--tiny", action="store_true", help="one repeat, smoke run, for the test suite")
    opts = parser.parse_args()
    installs = {"this": str(Path(sys.executable).parent / "alrun")}
    if opts.before:
        installs["before"] = opts.before
    print(f"load average at start: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        configs = more_strategies(Path(tmp) / "configs")
        cmds = {name: commands(alrun, configs) for name, alrun in installs.items()}
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        runs: dict[str, list[dict[str, float]]] = {}
        for rep in range(1 if opts.tiny else opts.repeats):
            for name, alrun in installs.items():
                for figure, (cmd, env, code) in cmds[name].items():
                    times.setdefault((name, figure), []).append(timed(cmd, env, code, Path(tmp)))
                folder = Path(tmp) / f"run-{name}-{rep}"
                runs.setdefault(name, []).append(default_run(alrun, folder, opts.tiny))
    print(f"load average at end: {load()}\n")
    report(times, runs, list(installs), list(cmds["this"]))
    for name, alrun in installs.items():
        print(f"\n{name}: `import alrun.run.experiment` {imported(alrun)}")


def more_strategies(folder: Path) -> Path:
    """A copy of the config folder with :data:`EXTRA_STRATEGIES` more strategy options."""
    from alrun.cli import config_dir

    shutil.copytree(config_dir(), folder)
    for i in range(EXTRA_STRATEGIES):
        (folder / "strategy" / f"extra_{i:03d}.yaml").write_text("_target_: alrun.strategies.Margin\n")
    return folder


def report(
    times: dict[tuple[str, str], list[tuple[float, float]]],
    runs: dict[str, list[dict[str, float]]],
    names: list[str],
    figures: list[str],
) -> None:
    """Medians per install: wall and CPU seconds."""
    print("| figure | " + " | ".join(f"{n} wall s | {n} CPU s" for n in names) + " |")
    print("|---|" + "---:|---:|" * len(names))
    for figure in figures:
        cells = []
        for name in names:
            walls, cpus = zip(*times[(name, figure)], strict=True)
            cells += [f"{statistics.median(walls):.3f}", f"{statistics.median(cpus):.3f}"]
        print(f"| {figure} | " + " | ".join(cells) + " |")
    labels = {"wall": "wall", "rounds": "rounds (sum of total_s)", "rest": "outside the rounds"}
    for key, label in labels.items():
        cells = [f"{statistics.median(r[key] for r in runs[n]):.3f} | -" for n in names]
        print(f"| default run (digits, margin, 10 fits): {label} | " + " | ".join(cells) + " |")
    cells = [f"{statistics.median(r['rss'] for r in runs[n]):.0f} MiB | -" for n in names]
    print("| default run peak RSS | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
