"""The ``alrun-report`` command: summarise run folders, plot their curves, gate a benchmark.

    alrun-report outputs/multirun/2026-01-01/12-00-00          # a sweep (searched recursively)
    alrun-report RUN_A RUN_B --out report/ --target 0.9 0.95
    alrun-report outputs/multirun/... --target 0.9 0.95 --paper-offset 10    # BatchBALD's count (labels - b)
    alrun-report outputs/multirun/... --metric test/macro_f1                 # any metrics.csv column
    alrun-report outputs/bench --check benchmarks/anchor_digits.json         # exit 1 on a regression
    alrun-report outputs/bench --write-anchor benchmarks/anchor_digits.json  # store a new anchor

Exit codes: 0 done (and the gate passed), 1 the gate found a regression, 2 bad input.
Starts fast: pandas, scipy and matplotlib are imported only once the arguments are good.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alrun.report import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from alrun.report.runs import Runs

OUTPUTS = ("summary.csv", "summary.md", "runs.csv", "rounds.csv", "curves.png")


def parser() -> argparse.ArgumentParser:
    """The command line of ``alrun-report``."""
    p = argparse.ArgumentParser(
        prog="alrun-report",
        description="Summarise alrun runs over seeds: summary.csv, summary.md, runs.csv (one row per "
        "run), rounds.csv (one row per run and round) and curves.png.",
        epilog="Exit codes: 0 done, 1 a figure regressed against the --check anchor, 2 bad input.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="run folders or folders above them")
    p.add_argument("--out", type=Path, help="where to write the files (default: the folder the PATHs share)")
    p.add_argument(
        "--target",
        type=float,
        nargs="+",
        action="extend",
        metavar="ACC",
        help="accuracy targets (default 0.9)",
    )
    p.add_argument(
        "--metric",
        default="test/acc",
        metavar="NAME",
        help="the metrics.csv column for curves, AUBC, final value and targets (default test/acc; e.g. "
        "test/balanced_acc, test/macro_f1, test/ece, val/acc; lower is better for *loss and *ece)",
    )
    p.add_argument(
        "--paper-offset",
        type=int,
        default=0,
        metavar="N",
        help="subtract N from the labels to each target, for a paper that counts otherwise (BatchBALD's "
        "Table 1 counts the labels minus b: --paper-offset 10); default 0: every label, the initial set too",
    )
    p.add_argument("--check", type=Path, metavar="ANCHOR", help="compare with an anchor file (JSON)")
    p.add_argument("--write-anchor", type=Path, metavar="ANCHOR", help="write an anchor file from these runs")
    for fig, flag in (("aubc", "--tol-aubc"), ("final_acc", "--tol-final-acc")):
        p.add_argument(
            flag,
            type=float,
            default=DEFAULT_TOLERANCE[fig],
            metavar="TOL",
            help=f"allowed drop of {fig} written into a new anchor (default {DEFAULT_TOLERANCE[fig]})",
        )
    return p


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out).resolve()
    return Path(os.path.commonpath([p.resolve() for p in args.paths]))


def _write(
    out: Path, loaded: Runs, figures: Any, summary: Any, targets: list[float], metric: str
) -> list[Path]:
    from alrun.report.plot import plot_curves
    from alrun.report.summary import per_run
    from alrun.report.text import markdown

    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown(summary, loaded.runs, out, targets))
    per_run(loaded.runs, figures).to_csv(out / "runs.csv", index=False)
    loaded.rounds.to_csv(out / "rounds.csv", index=False)
    written = [out / name for name in OUTPUTS[:4]]
    complete = loaded.complete
    if not complete.empty:
        written.append(plot_curves(complete, out / "curves.png", metric))
    return written


def _source(loaded: Runs, paths: list[Path]) -> dict[str, Any]:
    import json

    first = Path(loaded.runs.loc[loaded.runs["problem"] == "", "path"].iloc[0]) / "run.json"
    info = json.loads(first.read_text())
    from datetime import date

    return {
        "runs": " ".join(map(str, paths)),
        "created": date.today().isoformat(),
        "versions": info.get("versions"),
        "git_commit": info.get("git_commit"),
    }


def _write_anchor(args: argparse.Namespace, loaded: Runs, summary: Any) -> None:
    from alrun.report import gate
    from alrun.report.runs import ReportError

    problems = int((loaded.runs["problem"] != "").sum())
    if problems or summary.empty:
        raise ReportError(f"not writing an anchor: {problems} runs failed or are unfinished")
    tolerance = {"aubc": args.tol_aubc, "final_acc": args.tol_final_acc}
    gate.write_anchor(gate.make_anchor(summary, tolerance, _source(loaded, args.paths)), args.write_anchor)
    print(f"alrun-report: wrote anchor {args.write_anchor}")


def run(args: argparse.Namespace) -> int:
    """Do what the arguments ask; returns the exit code."""
    from alrun.report import gate
    from alrun.report.display import show_gate, show_report
    from alrun.report.runs import ReportError, load_runs
    from alrun.report.summary import (
        DEFAULT_METRIC,
        check_metric,
        check_targets,
        figure_budgets,
        run_figures,
        summarise,
    )

    targets = args.target or [0.9]
    check_targets(targets, args.metric)
    if args.paper_offset < 0:
        raise ReportError(f"--paper-offset {args.paper_offset} is not allowed (allowed: integers >= 0)")
    if args.metric != DEFAULT_METRIC and (args.check or args.write_anchor):
        raise ReportError(f"--check and --write-anchor compare {DEFAULT_METRIC}; drop --metric {args.metric}")
    anchor = gate.read_anchor(args.check) if args.check else None
    loaded = load_runs([p.resolve() for p in args.paths])
    check_metric(loaded, args.metric)
    budgets = figure_budgets(loaded.runs)
    figures = run_figures(loaded.complete, budgets, targets, args.metric, args.paper_offset)
    summary = summarise(figures, targets, args.metric, args.paper_offset)
    out = _out_dir(args)
    written = _write(out, loaded, figures, summary, targets, args.metric)
    show_report(summary, loaded.runs, out, targets, written)
    if args.write_anchor:
        _write_anchor(args, loaded, summary)
    if anchor is None:
        return 0
    return show_gate(gate.check(summary, anchor), args.check)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``alrun-report`` console script."""
    args = parser().parse_args(argv)
    from alrun.report.runs import ReportError

    try:
        code = run(args)
    except ReportError as exc:
        print(f"alrun-report: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code)
