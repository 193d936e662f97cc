"""``alrun-report --metric NAME``: curves, AUBC and targets on any metrics.csv column; runs stopped early."""

from __future__ import annotations

import pandas as pd
import pytest
from report_helpers import write_run

from alrun.report.cli import main


def report(*args: str) -> int:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    return int(stop.value.code or 0)


def sweep(root):
    f1 = {"random": [[0.4, 0.5, 0.6, 0.7], [0.3, 0.4, 0.5, 0.6]], "margin": [[0.4, 0.6, 0.8, 0.8]] * 2}
    ece = {"random": [[0.3, 0.2, 0.1, 0.1]] * 2, "margin": [[0.3, 0.3, 0.3, 0.2]] * 2}
    for strategy in f1:
        for seed in (0, 1):
            extra = {"test/macro_f1": f1[strategy][seed], "test/ece": ece[strategy][seed]}
            write_run(root / f"seed={seed},strategy={strategy}", strategy, seed, [0.5] * 4, extra=extra)


def test_figures_are_of_the_chosen_metric(tmp_path):
    sweep(tmp_path)
    assert report(str(tmp_path), "--metric", "test/macro_f1", "--target", "0.8") == 0
    s = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    # margin: ((.4+.6)*4 + (.6+.8)*4 + (.8+.8)*2) / 2 / 10 = 0.64; random seed 0: 0.53, seed 1: 0.43
    assert s.loc["margin", "aubc_mean"] == pytest.approx(0.64) and s.loc[
        "random", "aubc_mean"
    ] == pytest.approx(0.48)
    assert (
        s.loc["margin", "final_acc_mean"] == pytest.approx(0.8)
        and s.loc["margin", "labels_to_0.8_median"] == 18
    )
    assert s.loc["margin", "aubc_vs_random"] == pytest.approx(0.16) and set(s["metric"]) == {"test/macro_f1"}
    md = (tmp_path / "summary.md").read_text()
    assert "final test/macro_f1" in md and "AUBC test/macro_f1" in md and "labels to >= 0.8" in md


def test_a_lower_is_better_metric_ranks_and_reaches_targets_downwards(tmp_path):
    sweep(tmp_path)
    assert report(str(tmp_path), "--metric", "test/ece", "--target", "0.2") == 0
    s = pd.read_csv(tmp_path / "summary.csv")
    assert s["strategy"].tolist() == ["random", "margin"]  # lower AUBC of ECE first
    s = s.set_index("strategy")
    assert s.loc["random", "labels_to_0.2_median"] == 14 and s.loc["margin", "labels_to_0.2_median"] == 20
    assert "labels to <= 0.2" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--metric", "test/f2"],
            "--metric test/f2: not a column of metrics.csv (columns: test/acc, test/loss",
        ),
        (["--metric", "test/ece", "--check", "a.json"], "--check and --write-anchor compare test/acc"),
        (["--metric", "test/ece", "--target", "1.5"], "not allowed for test/ece (allowed: values in (0, 1])"),
    ],
)
def test_bad_metric_arguments_are_one_line_exit_2(tmp_path, capsys, args, message):
    sweep(tmp_path)
    assert report(str(tmp_path), *args) == 2
    assert message in capsys.readouterr().err


def test_a_run_stopped_early_is_complete_with_its_aubc_over_what_it_spent(tmp_path):
    stopped = {"by": "stable_predictions", "round": 1, "reason": "kappa >= 0.99 for 1 round"}
    write_run(tmp_path / "a", "margin", 0, [0.5, 0.7, 0.8, 0.9], rows=2, stopped=stopped)  # planned 3 rounds
    write_run(tmp_path / "b", "random", 0, [0.5, 0.6, 0.7, 0.8], stopped={"by": "budget", "round": 3})
    assert report(str(tmp_path)) == 0
    runs = pd.read_csv(tmp_path / "runs.csv").set_index("strategy")
    assert runs["problem"].isna().all()
    assert (
        runs.loc["margin", "stopped_by"] == "stable_predictions" and runs.loc["margin", "stopped_round"] == 1
    )
    assert runs.loc["margin", "aubc"] == pytest.approx(0.6)  # (0.5 + 0.7) / 2 over the 4 labels it spent
    assert runs.loc["random", "aubc"] == pytest.approx(0.63)  # over the budget of 10
    md = (tmp_path / "summary.md").read_text()
    assert (
        "## Runs stopped early (1)" in md
        and "| a | margin | 0 | stable_predictions | 1 | kappa >= 0.99" in md
    )
