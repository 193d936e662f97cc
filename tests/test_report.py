"""``alrun-report`` on synthetic run folders with known numbers: figures, listing, plot and gate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from report_helpers import write_run, write_sweep

from alrun.report.cli import main
from alrun.report.runs import identity
from alrun.report.stats import aubc, labels_to_target, paired_difference

T_975_DF2 = 4.302653  # Student's t, 97.5% quantile, 2 degrees of freedom (from a t table)


def report(*args: str) -> int:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    return int(stop.value.code or 0)


def test_aubc_by_hand_with_a_partial_last_round():
    # budget 10 in rounds of 4: labels 10 -> 14 -> 18 -> 20 (the last round adds 2)
    # trapezoids: (.5+.6)/2*4 + (.6+.7)/2*4 + (.7+.8)/2*2 = 2.2 + 2.6 + 1.5 = 6.3; / budget 10
    assert aubc([10, 14, 18, 20], [0.5, 0.6, 0.7, 0.8], budget=10) == pytest.approx(0.63, abs=1e-12)
    # full rounds: (.5+.7)/2*10 + (.7+.9)/2*10 = 14; / 20
    assert aubc([10, 20, 30], [0.5, 0.7, 0.9]) == pytest.approx(0.7, abs=1e-12)
    assert math.isnan(aubc([10], [0.5]))


def test_labels_to_target_is_the_first_point_at_or_above_it():
    assert labels_to_target([10, 14, 18, 20], [0.5, 0.9, 0.85, 0.95], 0.9) == 14
    assert labels_to_target([10, 14], [0.5, 0.6], 0.9) == math.inf


def test_paired_difference_on_a_constructed_case():
    # differences .02, .03, .05: mean 1/30, sd sqrt(7/30000), half width t(.975, 2) * sd / sqrt(3)
    diff = paired_difference([0.80, 0.82, 0.85], [0.78, 0.79, 0.80])
    half = T_975_DF2 * math.sqrt(7 / 30000) / math.sqrt(3)
    assert diff.n == 3
    assert diff.mean == pytest.approx(1 / 30, abs=1e-12)
    assert (diff.low, diff.high) == (
        pytest.approx(1 / 30 - half, abs=1e-6),
        pytest.approx(1 / 30 + half, abs=1e-6),
    )
    one = paired_difference([0.8], [0.7])
    assert one.mean == pytest.approx(0.1) and math.isnan(one.low)


def test_identity_from_hydra_choices_and_overrides(tmp_path):
    run = write_run(
        tmp_path / "r", "entropy", 3, [0.5, 0.6, 0.7, 0.8], overrides=["budget=10", "progress=false"]
    )
    assert identity(run) == {
        "dataset": "digits",
        "model": "mlp",
        "strategy": "entropy",
        "setting": "budget=10",
    }
    other = write_run(tmp_path / "s", "entropy", 3, [0.5] * 4, overrides=["strategy.temperature=2"])
    assert identity(other)["strategy"] == "entropy[temperature=2]" and identity(other)["setting"] == ""


def test_labels_with_brackets_reach_the_terminal_unchanged(tmp_path, capsys):
    write_run(tmp_path / "s", "entropy", 3, [0.5] * 4, overrides=["strategy.temperature=2"])
    assert report(str(tmp_path)) == 0
    assert "entropy[temperature=2]" in capsys.readouterr().out  # not taken for rich markup


def test_summary_figures_match_hand_computed_values(tmp_path):
    write_sweep(
        tmp_path,
        {
            "random": [[0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.7]],
            "margin": [[0.5, 0.7, 0.9, 0.9], [0.4, 0.8, 0.9, 1.0]],
        },
    )
    assert report(str(tmp_path), "--target", "0.9", "0.6") == 0
    s = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    # random AUBC: 0.63 (see above) and 0.53 (every accuracy 0.1 lower)
    assert s.loc["random", "aubc_mean"] == pytest.approx(0.58)
    assert s.loc["random", "aubc_std"] == pytest.approx(math.sqrt(0.005))
    # margin seed 0: (1.2*4 + 1.6*4 + 1.8*2)/2/10 = 0.74; seed 1: (1.2*4 + 1.7*4 + 1.9*2)/2/10 = 0.77
    assert s.loc["margin", "aubc_mean"] == pytest.approx(0.755)
    assert s.loc["margin", "final_acc_mean"] == pytest.approx(0.95)
    assert s.loc["margin", "labels_to_0.9_median"] == 18 and s.loc["margin", "labels_to_0.9_reached"] == 2
    assert s.loc["random", "labels_to_0.9_reached"] == 0 and s.loc["random", "labels_to_0.6_median"] == 16
    # paired AUBC differences 0.74-0.63 and 0.77-0.53: mean 0.175; 2 pairs, t(.975, 1) = 12.7062
    half = 12.706205 * (0.24 - 0.11) / math.sqrt(2) / math.sqrt(2)
    assert s.loc["margin", "aubc_vs_random"] == pytest.approx(0.175)
    assert s.loc["margin", "aubc_vs_random_high"] == pytest.approx(0.175 + half, abs=1e-5)
    assert s.loc["margin", "n_paired"] == 2 and math.isnan(s.loc["random", "aubc_vs_random"])
    md = (tmp_path / "summary.md").read_text()
    assert "| margin | 2 | 0.950 ± 0.071 | 0.755 ± 0.021 | 18 (2/2) |" in md


def test_failed_missing_and_unfinished_runs_are_listed(tmp_path, capsys):
    write_sweep(tmp_path, {"random": [[0.5, 0.6, 0.7, 0.8]], "margin": [[0.5, 0.7, 0.9, 0.9]]})
    write_run(tmp_path / "crashed", "margin", 1, [0.5, 0.6, 0.7, 0.8], status="failed", rows=2)
    write_run(tmp_path / "killed", "margin", 2, [0.5, 0.6, 0.7, 0.8], status="running", rows=3)
    write_run(tmp_path / "short", "margin", 3, [0.5, 0.6, 0.7, 0.8], rows=3)  # says finished, lacks a row
    (tmp_path / "no_metrics").mkdir()
    (tmp_path / "no_metrics" / "run.json").write_text(json.dumps({"status": "failed", "reason": "bad value"}))
    assert report(str(tmp_path)) == 0
    out = capsys.readouterr().out
    md = (tmp_path / "summary.md").read_text()
    for text in ("crashed", "failed: RuntimeError: boom", "killed", "running", "short", "3 of 4 rounds"):
        assert text in md and text in out
    assert "no_metrics" in md and "failed: bad value" in md and "Failed or unfinished runs (4)" in md
    s = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    assert s.loc["margin", "n_seeds"] == 1  # only the complete one counts
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 6 and (runs["problem"].fillna("") != "").sum() == 4


def test_a_sweep_where_every_job_failed_is_listed(tmp_path, capsys):
    for seed in (0, 1):
        write_run(tmp_path / f"seed={seed}", "margin", seed, [0.5, 0.6, 0.7, 0.8], status="failed", rows=0)
    assert report(str(tmp_path)) == 0
    assert "nothing to summarise" in capsys.readouterr().out
    assert "Failed or unfinished runs (2)" in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "curves.png").exists()


def test_curves_png_is_written(tmp_path):
    write_sweep(
        tmp_path / "runs", {"random": [[0.5, 0.6, 0.7, 0.8]] * 2, "entropy": [[0.5, 0.7, 0.8, 0.9]] * 2}
    )
    assert report(str(tmp_path / "runs"), "--out", str(tmp_path / "rep")) == 0
    png = tmp_path / "rep" / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not (tmp_path / "runs" / "curves.png").exists()


def test_a_run_that_just_started_does_not_break_the_curves(tmp_path, capsys):
    runs = write_sweep(tmp_path / "runs", {"random": [[0.5, 0.6, 0.7, 0.8]] * 2})
    write_run(runs / "started", "random", 2, [0.5, 0.6, 0.7, 0.8], status="running", rows=0)  # header only
    assert report(str(runs), "--out", str(tmp_path / "rep")) == 0
    assert (tmp_path / "rep" / "curves.png").is_file()
    assert "Failed or unfinished runs (1)" in (tmp_path / "rep" / "summary.md").read_text()
    assert pd.read_csv(tmp_path / "rep" / "rounds.csv")["test/acc"].dtype == float


def test_no_runs_is_one_line_and_exit_2(tmp_path, capsys):
    assert report(str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alrun-report: error: no run folders")
    assert report(str(tmp_path / "nope")) == 2


GOOD = {
    "random": [[0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.7]],
    "margin": [[0.5, 0.7, 0.9, 0.9], [0.4, 0.8, 0.9, 1.0]],
}


def test_gate_passes_on_its_own_anchor_and_fails_on_a_better_one(tmp_path, capsys):
    write_sweep(tmp_path / "runs", GOOD)
    anchor = tmp_path / "anchor.json"
    assert report(str(tmp_path / "runs"), "--write-anchor", str(anchor), "--tol-aubc", "0.02") == 0
    stored = json.loads(anchor.read_text())
    margin = next(e for e in stored["entries"] if e["strategy"] == "margin")
    assert margin["aubc"] == pytest.approx(0.755) and margin["n_seeds"] == 2
    assert report(str(tmp_path / "runs"), "--check", str(anchor)) == 0
    assert "benchmark gate passed" in capsys.readouterr().out

    margin["aubc"] = 0.78  # 0.755 < 0.78 - 0.02: a regression of margin's AUBC
    margin["final_acc"] = 0.96  # 0.95 >= 0.96 - 0.02: within tolerance
    anchor.write_text(json.dumps(stored))
    assert report(str(tmp_path / "runs"), "--check", str(anchor)) == 1
    err = capsys.readouterr().err
    assert "margin aubc regressed: 0.7550 < anchor 0.7800" in err
    assert "final_acc" not in err and "random" not in err


def test_gate_fails_when_seeds_are_missing(tmp_path, capsys):
    write_sweep(tmp_path / "runs", GOOD)
    anchor = tmp_path / "anchor.json"
    assert report(str(tmp_path / "runs"), "--write-anchor", str(anchor)) == 0
    (tmp_path / "runs" / "seed=1,strategy=margin" / "metrics.csv").unlink()
    assert report(str(tmp_path / "runs"), "--check", str(anchor)) == 1
    assert "margin: fewer finished seeds (1 of 2 seeds)" in capsys.readouterr().err
    # and an anchor is not written from runs with a problem
    assert report(str(tmp_path / "runs"), "--write-anchor", str(tmp_path / "new.json")) == 2
    assert not (tmp_path / "new.json").exists()


def test_resumed_and_base_swapped_runs_keep_their_identity(tmp_path):
    resumed = write_run(tmp_path / "r", "margin", 1, [0.5] * 4, overrides=["budget=10", "resume=outputs/x"])
    assert identity(resumed)["setting"] == "budget=10"  # resume= does not split the seeds' group
    swapped = write_run(
        tmp_path / "s", "power_bald", 1, [0.5] * 4, overrides=["strategy@strategy.base=mc_entropy"]
    )
    assert (
        identity(swapped)["strategy"] == "power_bald[base=mc_entropy]" and identity(swapped)["setting"] == ""
    )


def test_keys_that_do_not_change_results_are_one_list():
    from alrun.cli import config_dir
    from alrun.config.checks import NON_RESULT_KEYS

    hydra = yaml.safe_load((Path(config_dir()) / "hydra" / "default.yaml").read_text())
    assert set(hydra["job"]["config"]["override_dirname"]["exclude_keys"]) == NON_RESULT_KEYS


def test_paper_offset_counts_labels_the_way_a_paper_does(tmp_path, capsys):
    write_sweep(
        tmp_path,
        {"random": [[0.5, 0.6, 0.7, 0.8]] * 2, "margin": [[0.5, 0.9, 0.9, 0.9], [0.4, 0.8, 0.9, 1.0]]},
    )
    assert report(str(tmp_path), "--target", "0.9") == 0
    plain = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    assert (plain.loc["margin", "labels_to_0.9_min"], plain.loc["margin", "labels_to_0.9_max"]) == (14, 18)
    assert report(str(tmp_path), "--target", "0.9", "--paper-offset", "4") == 0
    s = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    assert s.loc["margin", "labels_to_0.9_median"] == plain.loc["margin", "labels_to_0.9_median"] - 4 == 12
    assert (s.loc["margin", "labels_to_0.9_min"], s.loc["margin", "label_offset"]) == (10, 4)
    assert math.isinf(s.loc["random", "labels_to_0.9_median"])  # never reached stays never reached
    runs = pd.read_csv(tmp_path / "runs.csv").set_index(["strategy", "seed"])
    assert runs.loc[("margin", 1), "labels_to_0.9"] == 14
    md = (tmp_path / "summary.md").read_text()
    assert "labels to 0.9 (labels - 4)" in md and "minus 4 (--paper-offset)" in md
    assert report(str(tmp_path), "--paper-offset", "-1") == 2
    assert "--paper-offset -1 is not allowed" in capsys.readouterr().err
