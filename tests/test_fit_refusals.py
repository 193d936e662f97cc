"""What a fit path cannot serve is routed or refused up front, in one line, before anything is written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from alrun.errors import ConfigError
from alrun.training.paths import FEATURES, choose
from alrun.training.preflight import check_fit

LIGHTNING_ONLY = [
    ("+trainer.gradient_clip_val=1.0", "trainer.gradient_clip_val"),
    ("+trainer.accumulate_grad_batches=2", "trainer.accumulate_grad_batches"),
    ("+trainer.limit_train_batches=0.5", "trainer.limit_train_batches"),
    ("+trainer.log_every_n_steps=1", "trainer.log_every_n_steps"),
    ("+trainer.val_check_interval=0.5", "trainer.val_check_interval"),
    ("trainer.logger=true", "trainer.logger"),
    ("trainer.enable_progress_bar=true", "ProgressBar"),  # Rich's or tqdm's
    ("callbacks=[model_checkpoint]", "callback ModelCheckpoint"),
    ("callbacks=[lr_monitor]", "callback LearningRateMonitor"),
]


@pytest.mark.parametrize(("override", "setting"), LIGHTNING_ONLY)
def test_auto_takes_lightnings_loop_and_fast_refuses(make_cfg, tmp_path, override, setting):
    path = check_fit(make_cfg(override), tmp_path)
    assert path.name == "lightning" and setting in path.reason.split(" needs Lightning's per-step loop")[0]
    with pytest.raises(ConfigError, match="fit_mode=fast cannot serve") as err:
        check_fit(make_cfg(override, "fit_mode=fast"), tmp_path)
    assert setting in str(err.value) and str(err.value).endswith("use fit_mode=lightning (or auto)")
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_default_run_takes_the_fast_path(make_cfg, tmp_path):
    path = check_fit(make_cfg("val_size=20", "callbacks=[early_stopping,best_weights]"), tmp_path)
    assert path.name == "fast" and "nothing in this run needs" in path.reason
    assert check_fit(make_cfg("fit_mode=lightning"), tmp_path).name == "lightning"


def test_an_epoch_level_callback_of_the_users_stays_on_the_fast_path():
    class EpochOnly(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            pass

    class PerBatch(pl.Callback):
        def on_after_backward(self, trainer, pl_module):
            pass

    trainer = pl.Trainer(
        callbacks=[EpochOnly()], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    assert choose(trainer, "auto").name == "fast"
    trainer = pl.Trainer(
        callbacks=[PerBatch()], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    assert choose(trainer, "auto").reason.startswith("callback PerBatch needs")


REFUSED = [
    (
        ["callbacks=[early_stopping]"],
        "EarlyStopping monitors 'val/loss', but val_size=0 gives no validation set",
    ),
    (
        ["val_size=20", "callbacks=[best_weights]", "callbacks.best_weights.monitor=train/loss"],
        "best_weights.monitor",
    ),
    (
        ["val_size=20", "callbacks=[early_stopping]", "callbacks.early_stopping.monitor=val/los"],
        "alrun does not log",
    ),
    (["trainer.max_epochs=-3"], "trainer: `max_epochs` must be a non-negative integer or -1"),
    (
        ["+trainer.limit_test_batches=0.5"],
        "trainer.limit_test_batches / limit_predict_batches is not supported",
    ),
    (["+trainer.inference_mode=false"], "trainer.inference_mode is not supported"),
    (["trainer.devices=2", "+trainer.strategy=ddp_spawn"], "trainer.strategy (other than ddp) is not"),
    (["+trainer.strategy=ddp_spawn"], "use strategy=ddp"),  # one spawned child would lose the round's state
    (["trainer.devices=2", "+trainer.strategy=fsdp"], "trainer: The strategy `fsdp` requires a GPU"),
    (["trainer.devices=2", "+trainer.strategy=ddp_fork"], "trainer.strategy (other than ddp) is not"),
    (["trainer=ddp_cpu", "+trainer.num_nodes=2"], "trainer.num_nodes=2 runs through Slurm"),
    (["trainer=ddp_cpu", "fit_mode=fast"], "fit_mode=fast cannot serve trainer.devices"),
    (["epoch_samples=0"], "epoch_samples=0 is out of range"),
    (
        ["weight_decay_groups=[{params:[head.weight],weight_decay:-1}]"],
        "weight_decay_groups[0].weight_decay=-1",
    ),
    (["scheduler=step", "+scheduler.scheduler.gama=0.5"], "scheduler.scheduler: got an unexpected keyword"),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED)
def test_what_no_path_can_honour_is_refused_in_one_line(make_cfg, tmp_path, overrides, message):
    with pytest.raises(ConfigError) as err:
        check_fit(make_cfg(*overrides), tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_trainer_argument_is_in_the_table():
    import inspect

    named = {
        part.strip().removeprefix("trainer.").split(" ")[0] for f in FEATURES for part in f.setting.split("/")
    }
    arguments = set(inspect.signature(pl.Trainer).parameters) - {"callbacks"}
    assert arguments <= named, sorted(arguments - named)


def test_the_docs_table_is_the_code_table():
    from alrun.training.paths import table

    text = (Path(__file__).parents[1] / "docs" / "performance.md").read_text()
    assert table() in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_trainer_gpu_without_cuda_is_one_line_exit_2(tmp_path):
    alrun = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"
    out = subprocess.run(
        [alrun, "experiment=smoke", "trainer=gpu", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "alrun: error: trainer.accelerator=gpu: no CUDA device is visible; use trainer=cpu or trainer=auto"
    )
    assert not list(tmp_path.rglob("run.json")) and not list(tmp_path.rglob("metrics.csv"))
