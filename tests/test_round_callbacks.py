"""Callbacks are built afresh for every round: each round's fit behaves as the same fit run on its own,
and whatever they write lands in the run folder, one sub-folder per round."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hydra.utils import instantiate

from alrun.active.loop import fit, run_loop
from alrun.run.experiment import build, build_strategy, quiet_lightning
from alrun.seeding import Streams
from alrun.training.trainers import TrainerFactory


class KeepStates:
    """Run observer keeping the strategy's resumable state after each round (= the next round's start)."""

    def __init__(self, strategy: Any) -> None:
        self.strategy, self.states = strategy, []

    def run_started(self, plan: Any, n_rounds: int) -> None:
        pass

    def labelled(self, records: Any) -> None:
        pass

    def round_finished(self, row: Any, info: Any) -> None:
        self.states.append(self.strategy.resume.state_dict())

    def run_finished(self, status: str, reason: str | None = None) -> None:
        pass


@pytest.mark.parametrize("mode", ["fast", "lightning"])
def test_early_stopping_stops_each_round_by_its_own_patience(make_cfg, tmp_path, mode):
    cfg = make_cfg(
        f"fit_mode={mode}",
        "val_size=50",
        "callbacks=[early_stopping]",
        "callbacks.early_stopping.patience=3",
        "trainer.max_epochs=40",
        "budget=8",
        "query_size=4",
        "optimizer.lr=0.01",
    )
    quiet_lightning()
    exp = build(cfg, tmp_path / "run")
    keep = KeepStates(exp.strategy)
    run_loop(exp.strategy, exp.make_trainer, exp.plan, [*exp.observers, keep])
    rows = pd.read_csv(tmp_path / "run" / "metrics.csv").to_dict("records")
    assert all(1 <= r["train/epochs"] < 40 for r in rows)  # every round stopped early, by itself
    for r in (1, 2):  # the same fit on its own: a new strategy at the round's start, a new Trainer
        alone = build_strategy(cfg, instantiate(cfg.dataset), Streams(cfg.seed))
        alone.resume.load_state_dict(keep.states[r - 1])
        fit(alone, TrainerFactory.from_config(cfg, tmp_path / "alone")(r))
        assert alone.fit_metrics()["train/epochs"] == rows[r]["train/epochs"]
        assert alone.evaluate()["test/acc"] == rows[r]["test/acc"]


def test_model_checkpoint_writes_one_folder_per_round_in_the_run_folder(run_cfg, tmp_path):
    run_cfg("callbacks=[model_checkpoint]", "budget=4", "query_size=4")
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["fit_path"] == "lightning"
    for round_ in (0, 1):
        files = list((run / "checkpoints" / f"round_{round_}").glob("*.ckpt"))
        assert [f.name for f in files] == ["epoch=1-step=2.ckpt"]  # smoke: 2 epochs of 1 step each


def test_lr_monitor_gets_a_logger_in_the_run_folder(run_cfg, tmp_path):
    run_cfg("callbacks=[lr_monitor]", "scheduler=step", "scheduler.scheduler.step_size=1", "budget=0")
    logged = pd.read_csv(tmp_path / "run" / "lightning_logs" / "round_0" / "metrics.csv")
    assert logged["lr-Adam"].dropna().tolist() == pytest.approx([1e-3, 1e-4])


def test_a_trainer_logger_writes_into_the_run_folder(run_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = run_cfg("trainer.logger=true", "val_size=20", "budget=0")
    assert len(rows) == 1
    # Lightning's default logger: TensorBoard's event files where tensorboard is installed (the
    # loggers extra), else a CSV file
    written = [p.name for p in (tmp_path / "run" / "lightning_logs").glob("version_*/*")]
    assert any(n == "metrics.csv" or n.startswith("events.out.tfevents") for n in written), written
    assert not (tmp_path / "lightning_logs").exists()


def test_a_logger_of_the_users_writes_its_relative_save_dir_inside_the_run_folder(
    run_cfg, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    run_cfg(
        "+trainer.logger={_target_: lightning.pytorch.loggers.CSVLogger, save_dir: mylogs}", "val_size=20"
    )
    logged = pd.read_csv(next((tmp_path / "run" / "mylogs").glob("lightning_logs/version_*/metrics.csv")))
    assert "val/loss" in logged and not (tmp_path / "mylogs").exists()
