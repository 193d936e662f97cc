"""The ``logger`` group: tiny runs through the real configs, and what CSV, TensorBoard and MLflow recorded,
read back from their own files; a run that dies after its logger flushed a round and before that round's
checkpoint resumes without logging any step twice."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from alrun.active.loop import run_loop
from alrun.errors import ConfigError
from alrun.report.runs import find_run_dirs
from alrun.run import checkpoint
from alrun.run.experiment import build, quiet_lightning
from alrun.run.logbook import RunLogger
from alrun.run.logged import read_csv_rows
from alrun.run.loggers import check_logger
from alrun.run.records import TIMING_COLUMNS

RUN = ("val_size=10", "reset=scratch")  # smoke: 4 rounds of 2 epochs, n_labelled 10, 14, 18, 20
History = dict[str, list[tuple[int, float]]]


class Killed(BaseException):
    """Stands for a kill -9: nothing after it runs (the logger is not closed either)."""


def csv_history(run: Path) -> History:
    out: History = defaultdict(list)
    with (run / "csv" / "metrics.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "step" and value != "":
                    out[key].append((int(row["step"]), float(value)))
    return dict(out)


def tensorboard_history(run: Path) -> History:
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={SCALARS: 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def mlflow_run(run: Path) -> tuple[Any, Any]:
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # as alrun sets it (MLflow 3's opt-in)

    client = MlflowClient((run / "mlruns").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("alrun").experiment_id])
    return client, found


def mlflow_history(run: Path) -> History:
    client, found = mlflow_run(run)
    keys = found.data.metrics
    return {k: [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, k)] for k in keys}


def hyperparameters(run: Path, kind: str) -> dict[str, str]:
    """The logged config's seed, budget and strategy target, as the logger stored them."""
    if kind == "mlflow":
        params = mlflow_run(run)[1].data.params
        return {
            k: params[p]
            for k, p in (("seed", "seed"), ("budget", "budget"), ("strategy", "strategy/_target_"))
        }
    if kind == "tensorboard":  # the HPARAMS tab's data in the event files
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

        events = EventAccumulator(str(run / "tensorboard"))
        events.Reload()
        start = HParamsPluginData.FromString(
            events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        )
        shown = start.session_start_info.hparams
        assert shown["seed"].number_value == 0 and shown["logger/_target_"].string_value.endswith("Logger")
    saved = yaml.safe_load((run / kind / "hparams.yaml").read_text())
    return {
        "seed": str(saved["seed"]),
        "budget": str(saved["budget"]),
        "strategy": saved["strategy"]["_target_"],
    }


LOGGERS = {"csv": csv_history, "tensorboard": tensorboard_history, "mlflow": mlflow_history}
NEEDS = {"csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow"}


def run(make_cfg: Any, folder: Path, *overrides: str, start: int = 0) -> None:
    quiet_lightning()
    state = checkpoint.load(folder) if start else None
    exp = build(make_cfg(*RUN, *overrides), folder, state)
    run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers, start_round=start)


def crash_before_checkpoint(make_cfg: Any, folder: Path, monkeypatch: Any, *overrides: str) -> None:
    """Run until round 1's row is logged and flushed, then die before round 1's checkpoint."""
    save = checkpoint.save

    def dying_save(where: Path, state: Any) -> None:
        if state.rounds_done == 2:
            raise Killed
        save(where, state)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save", dying_save)
        patch.setattr(RunLogger, "run_finished", lambda self, status, reason=None: None)
        with pytest.raises(Killed):
            run(make_cfg, folder, *overrides)


@pytest.mark.parametrize("kind", list(LOGGERS))
def test_a_logger_records_the_experiment_and_a_resumed_run_logs_no_step_twice(
    make_cfg, tmp_path, monkeypatch, kind
):
    if NEEDS[kind]:
        pytest.importorskip(NEEDS[kind])
    monkeypatch.chdir(tmp_path)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    run(make_cfg, whole, f"logger={kind}")
    crash_before_checkpoint(make_cfg, resumed, monkeypatch, f"logger={kind}")
    assert checkpoint.load(resumed).rounds_done == 1
    run(make_cfg, resumed, f"logger={kind}", start=1)
    rows = pd.read_csv(whole / "metrics.csv")
    history, again = LOGGERS[kind](whole), LOGGERS[kind](resumed)

    # every round's row at step n_labelled: all its metrics, the timings too
    for key in ("round", "n_labelled", "test/acc", "test/loss", "val/acc", "train/loss", *TIMING_COLUMNS):
        assert [s for s, _ in history[key]] == rows["n_labelled"].tolist(), key
    assert [v for _, v in history["test/acc"]] == pytest.approx(rows["test/acc"].tolist(), rel=1e-6)
    assert [v for _, v in history["query/score_mean"]] == pytest.approx(
        rows["query/score_mean"].dropna().tolist()
    )
    # every epoch's training loss, at the run's epoch count; each round's last one is its row's train/loss
    epochs = history["epoch/train/loss"]
    assert [s for s, _ in epochs] == list(range(int(rows["train/epochs"].sum())))
    last = rows["train/epochs"].cumsum() - 1
    assert [epochs[i][1] for i in last] == pytest.approx(rows["train/loss"].tolist(), rel=1e-6)
    assert [v for _, v in history["epoch/round"]] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len(history["epoch/val/loss"]) == len(epochs)
    assert hyperparameters(whole, kind) == {
        "seed": "0",
        "budget": "10",
        "strategy": "alrun.strategies.Entropy",
    }

    # the resumed run: the same steps and values, none twice (timings: the same steps)
    assert again.keys() == history.keys()
    for key, points in history.items():
        steps = [s for s, _ in again[key]]
        assert len(steps) == len(set(steps)), f"{key} logged twice at a step"
        assert steps == [s for s, _ in points], key
        if key not in TIMING_COLUMNS:
            assert [v for _, v in again[key]] == [v for _, v in points], key
    assert hyperparameters(resumed, kind) == hyperparameters(whole, kind)
    assert json.loads((whole / "run.json").read_text())["fit_path"] == "fast"  # epoch-level hooks only
    assert find_run_dirs([tmp_path]) == [resumed, whole]  # alrun-report takes no logger folder for a run
    assert not list(tmp_path.glob("lightning_logs")) and not (tmp_path / "mlruns").exists()  # nothing in cwd


def test_mlflow_run_is_finished_and_resumed_in_place(make_cfg, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    crash_before_checkpoint(make_cfg, tmp_path, monkeypatch, "logger=mlflow", "budget=4")
    assert mlflow_run(tmp_path)[1].info.status == "RUNNING"  # killed: nobody closed it
    run(make_cfg, tmp_path, "logger=mlflow", "budget=4", start=1)
    _, found = mlflow_run(tmp_path)  # still one run in the store (mlflow_run unpacks exactly one)
    assert found.info.status == "FINISHED" and found.info.run_name == tmp_path.name


def test_both_fit_paths_log_the_same_epochs_and_rows(make_cfg, tmp_path):
    for mode in ("fast", "lightning"):
        run(make_cfg, tmp_path / mode, "logger=csv", "budget=4", f"fit_mode={mode}")
    fast, lightning = csv_history(tmp_path / "fast"), csv_history(tmp_path / "lightning")
    assert len(fast["epoch/train/loss"]) == 4 and fast.keys() == lightning.keys()
    assert {k: v for k, v in fast.items() if k not in TIMING_COLUMNS} == {
        k: v for k, v in lightning.items() if k not in TIMING_COLUMNS
    }


def test_a_prefixed_logger_is_read_back_under_its_prefixed_names(tmp_path):
    settings = {
        "_target_": "lightning.pytorch.loggers.CSVLogger",
        "name": "csv",
        "version": "",
        "prefix": "al",
    }
    for _ in range(2):  # a run, then the same round again after a resume
        observer = RunLogger(settings, tmp_path, {"seed": 0}, [])
        observer.run_started(None, 1)
        observer.round_finished({"n_labelled": 10, "test/acc": 0.5}, {})
        observer.run_finished("finished")
    assert csv_history(tmp_path) == {"al-n_labelled": [(10, 10.0)], "al-test/acc": [(10, 0.5)]}


def test_a_torn_last_csv_line_is_not_read_back(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,test/acc\r\n10,0.5\r\n14,0.2")  # the last row was being written
    assert read_csv_rows(path) == [{"step": "10", "test/acc": "0.5"}]


def test_the_default_is_no_logger(make_cfg, tmp_path):
    run(make_cfg, tmp_path, "budget=0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "metrics.csv",
        "queries.csv",
        "run.json",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["logger=wandb"], "logger=wandb is not supported"),
        (["logger=csv", "trainer.logger=true"], "one logger per run; remove trainer.logger"),
        (["logger=csv", "+logger.save_dir=/tmp"], "logger.save_dir is set by alrun"),
        (
            ["logger=tensorboard", "+logger.log_graph=true"],
            "logger.log_graph: the run's logger sees no model",
        ),
        (["logger=csv", "+logger.flush_every=3"], "logger: got an unexpected keyword argument 'flush_every'"),
        (
            ["logger=csv", "logger._target_=collections.OrderedDict"],
            "is not a lightning.pytorch.loggers.Logger",
        ),
    ],
)
def test_a_logger_alrun_cannot_run_is_refused(make_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        check_logger(make_cfg(*overrides))


def test_a_logger_that_is_not_installed_is_one_line_exit_2_and_no_folder(tmp_path, monkeypatch, capsys):
    from hydra.core.global_hydra import GlobalHydra

    from alrun import cli

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else find_spec(name, *a)
    )
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)
    monkeypatch.setattr(
        sys, "argv", ["alrun", "experiment=smoke", "logger=mlflow", f"hydra.run.dir={tmp_path / 'run'}"]
    )
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    GlobalHydra.instance().clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert err[0] == (
        "alrun: error: logger=mlflow needs the mlflow package, which is not installed "
        "(pip install -e '.[loggers]'); or use logger=csv"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LOGGERS))
@pytest.mark.parametrize("fault", ["checkpoint@2", "fit@3"])
def test_a_run_killed_with_sigkill_resumes_its_logger_without_a_step_twice(tmp_path, kind, fault):
    """The installed command, killed by SIGKILL after round 1's logger flush (before its checkpoint) or
    inside round 2's first epoch, then run again: the logger holds what an uninterrupted run's holds."""
    import signal
    import subprocess

    from tests.test_cli import ALRUN

    if NEEDS[kind]:
        pytest.importorskip(NEEDS[kind])

    def alrun(folder: Path, fault: str = "") -> int:
        args = ["experiment=smoke", *RUN, f"logger={kind}", f"hydra.run.dir={folder}"]
        env = dict(os.environ, ALRUN_FAULT=fault)
        return subprocess.run(
            [ALRUN, *args], env=env, cwd=tmp_path, capture_output=True, timeout=300
        ).returncode

    assert alrun(tmp_path / "whole") == 0
    assert alrun(tmp_path / "killed", fault) == -signal.SIGKILL
    assert alrun(tmp_path / "killed") == 0
    history, again = LOGGERS[kind](tmp_path / "whole"), LOGGERS[kind](tmp_path / "killed")
    assert again.keys() == history.keys()
    for key, points in history.items():
        assert [s for s, _ in again[key]] == [s for s, _ in points], key
        if key not in TIMING_COLUMNS:
            assert [v for _, v in again[key]] == [v for _, v in points], key


def test_every_epochs_learning_rate_reaches_the_run_logger_on_both_fit_paths(make_cfg, tmp_path):
    decay = ("scheduler=step", "scheduler.scheduler.step_size=1", "scheduler.scheduler.gamma=0.5")
    for mode in ("fast", "lightning"):
        run(make_cfg, tmp_path / mode, "logger=csv", "budget=4", f"fit_mode={mode}", *decay)
    fast, lightning = csv_history(tmp_path / "fast"), csv_history(tmp_path / "lightning")
    lr = make_cfg(*RUN).optimizer.lr
    # two epochs a fit, a fresh schedule every fit: each epoch starts at lr x 0.5^epoch
    assert fast["epoch/lr"] == [(s, pytest.approx(lr * 0.5 ** (s % 2))) for s in range(4)]
    assert lightning["epoch/lr"] == fast["epoch/lr"]
