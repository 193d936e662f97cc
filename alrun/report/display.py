"""What ``alrun-report`` prints: the summary and the problem runs as rich tables, then the gate."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from alrun.report.gate import Verdict
from alrun.report.text import STOPPED_HEADERS, problem_rows, stopped_rows, table

WIDTH_OFF_TERMINAL = 160  # CI logs: rich would wrap the table at 80 columns
MARKUP = "\x00"  # a cell starting with this is rich markup (the gate's verdicts)


def console() -> Console:
    """A console on stdout, wide enough for the table when stdout is not a terminal."""
    plain = Console()
    return plain if plain.is_terminal else Console(width=WIDTH_OFF_TERMINAL)


def _cell(text: str) -> Text:
    """Plain text (a ``[...]`` in a label or a reason is not markup), or markup after :data:`MARKUP`."""
    return Text.from_markup(text[1:]) if text.startswith(MARKUP) else Text(text)


def _table(title: str, headers: list[str], rows: list[list[str]], style: str = "") -> Table:
    out = Table(title=Text(title), title_justify="left", header_style="bold", style=style)
    for i, name in enumerate(headers):
        numeric = i > 0 and bool(rows) and rows[0][i][:1].isdigit()
        out.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        out.add_row(*map(_cell, row))
    return out


def show_report(
    summary: pd.DataFrame, runs: pd.DataFrame, out: Path, targets: list[float], written: list[Path]
) -> None:
    """Print the summary table, the failed or unfinished runs, and the files written."""
    con = console()
    n_ok = int((runs["problem"] == "").sum())
    title = f"alrun report: {len(runs)} runs, {n_ok} finished and complete"
    if summary.empty:
        con.print(f"[bold]{title}[/bold]: nothing to summarise")
    else:
        con.print(_table(title, *table(summary, targets)))
    stopped = stopped_rows(runs, out)
    if stopped:
        con.print(_table(f"Runs stopped early ({len(stopped)})", STOPPED_HEADERS, stopped))
    problems = problem_rows(runs, out)
    if problems:
        head = ["folder", "strategy", "seed", "problem"]
        con.print(_table(f"Failed or unfinished runs ({len(problems)})", head, problems, style="yellow"))
    con.print(Text("wrote " + ", ".join(str(p) for p in written)))


def _verdict(ok: bool) -> str:
    return MARKUP + ("[green]PASS[/green]" if ok else "[bold red]FAIL[/bold red]")


def show_gate(verdicts: list[Verdict], anchor: Path) -> int:
    """Print the gate's verdicts; name every regression on stderr. Returns the exit code (0 pass, 1 fail)."""
    rows = [
        [v.name, v.figure, f"{v.anchor:.4f}", f"{v.now:.4f}", f"{v.tolerance:g}", _verdict(v.ok), v.note]
        for v in verdicts
    ]
    head = ["strategy", "figure", "anchor", "now", "tolerance", "verdict", "note"]
    console().print(_table(f"Benchmark gate against {anchor}", head, rows))
    failed = [v for v in verdicts if not v.ok]
    for v in failed:
        if v.figure == "seeds":
            line = f"{v.name}: {v.note} ({v.now:.0f} of {v.anchor:.0f} seeds)"
        else:
            line = f"{v.name} {v.figure} regressed: {v.now:.4f} < anchor {v.anchor:.4f}"
            line += f" - tolerance {v.tolerance:g}"
        print(f"alrun-report: {line}", file=sys.stderr)
    if not failed:
        print(f"alrun-report: benchmark gate passed ({len(verdicts)} figures within tolerance of {anchor})")
    return 1 if failed else 0
