"""The terminal display: the per-round table and the live bars, on both fit paths."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from alrun.run.display import Display


@pytest.mark.parametrize("mode", ["fast", "lightning"])
def test_epoch_bar_counts_real_epochs_on_both_fit_paths(make_cfg, tmp_path, mode):
    from alrun.active.loop import run_loop
    from alrun.run.experiment import build

    exp = build(make_cfg(f"fit_mode={mode}", "progress=true", "trainer.max_epochs=3"), tmp_path / "run")
    display = exp.observers[-1]
    assert isinstance(display, Display) and display.live
    display.console = Console(file=io.StringIO(), width=200)
    ticks: list[int] = []
    display.epoch_done = lambda: ticks.append(1)  # type: ignore[method-assign]
    run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers)
    assert len(ticks) == 3 * 4  # 3 epochs in each of the 4 fits


def test_table_prints_one_row_per_round(run_cfg, capsys):
    rows = run_cfg()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0].split()[:3] == ["round", "n_labelled", "n_val_labelled"]
    assert [int(line.split()[0]) for line in lines[1:]] == [r["round"] for r in rows]


def test_a_failure_reason_is_printed_as_plain_text_never_as_markup():
    """gloo's and PyTorch's messages hold ``[...]``, which rich would read as markup (and may crash on)."""
    out = io.StringIO()
    display = Display(live=False, console=Console(file=out, width=300))
    reason = "RuntimeError: [/] [../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed [bold]"
    display.run_finished("failed", reason)
    assert out.getvalue().strip() == f"run failed: {reason}"
