"""Both fit paths honour every Trainer setting and callback they take, identically; the rest is
routed to Lightning's loop (fit_mode=auto) or refused in one line (fit_mode=fast)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate

from alrun.active.loop import fit
from alrun.active.strategy import Strategy
from alrun.run.experiment import build_strategy
from alrun.seeding import Streams
from alrun.training.trainers import TrainerFactory

PATHS = ["fast", "lightning"]


class Recorder(pl.Callback):
    """Epoch-level observations (served by both paths: no per-batch hook)."""

    def __init__(self) -> None:
        self.val_epochs: list[int] = []
        self.val_loss: list[float] = []
        self.weights: list[dict[str, torch.Tensor]] = []
        self.deterministic: list[bool] = []
        self.lrs: list[float] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.val_epochs.append(trainer.current_epoch)
            self.val_loss.append(float(trainer.callback_metrics["val/loss"]))
            self.weights.append({k: v.clone() for k, v in pl_module.state_dict().items()})

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.deterministic.append(torch.are_deterministic_algorithms_enabled())
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def fit_once(make_cfg, tmp_path, *overrides: str, labels: int = 20) -> tuple[Strategy, pl.Trainer, Recorder]:
    """One fit of a fresh smoke-sized strategy through the run's own TrainerFactory."""
    cfg = make_cfg(*overrides)
    strategy = build_strategy(cfg, instantiate(cfg.dataset), Streams(cfg.seed))
    strategy.label_initial(labels, "random", cfg.val_size)
    recorder = Recorder()
    trainer = TrainerFactory.from_config(cfg, tmp_path, extra=lambda: [recorder])(0)
    fit(strategy, trainer)
    assert strategy.fitting.path is not None
    return strategy, trainer, recorder


def both_paths(make_cfg, tmp_path, *overrides: str, labels: int = 20):
    """The same fit on each path; checks that they end with bit-identical weights and counters."""
    out = {}
    for mode in PATHS:
        out[mode] = fit_once(make_cfg, tmp_path / mode, f"fit_mode={mode}", *overrides, labels=labels)
        assert out[mode][0].fitting.path.name == mode
    (a, ta, ra), (b, tb, rb) = out["fast"], out["lightning"]
    for key, value in a.net.state_dict().items():
        assert torch.equal(value, b.net.state_dict()[key]), key
    assert (ta.current_epoch, ta.global_step) == (tb.current_epoch, tb.global_step)
    assert ra.val_epochs == rb.val_epochs and ra.lrs == rb.lrs
    assert a.fit_metrics() == b.fit_metrics()
    return out


def test_epochs_and_steps_mean_what_lightning_says(make_cfg, tmp_path):
    out = both_paths(make_cfg, tmp_path, "trainer.max_epochs=3", "batch_size=8", labels=20)
    _, trainer, _ = out["fast"]
    assert trainer.current_epoch == 3 and trainer.global_step == 3 * 3  # 20 labels: 3 steps of 8
    assert out["fast"][0].fit_metrics()["train/steps"] == 9


def test_max_steps_stops_the_fit_mid_epoch(make_cfg, tmp_path):
    out = both_paths(make_cfg, tmp_path, "+trainer.max_steps=5", "trainer.max_epochs=10", "batch_size=8")
    _, trainer, _ = out["fast"]
    assert trainer.global_step == 5 and trainer.current_epoch == 2  # 3 steps per epoch; the 2nd is cut


def test_check_val_every_n_epoch_validates_every_nth_epoch(make_cfg, tmp_path):
    out = both_paths(
        make_cfg, tmp_path, "val_size=30", "trainer.max_epochs=5", "+trainer.check_val_every_n_epoch=2"
    )
    assert out["fast"][2].val_epochs == [1, 3]


def test_min_epochs_holds_off_early_stopping(make_cfg, tmp_path):
    overrides = ("val_size=30", "callbacks=[early_stopping]", "callbacks.early_stopping.patience=0")
    overrides += ("callbacks.early_stopping.min_delta=10.0", "trainer.max_epochs=20", "+trainer.min_epochs=4")
    out = both_paths(make_cfg, tmp_path, *overrides)
    assert out["fast"][1].current_epoch == 4  # it would stop after 1 epoch without min_epochs


@pytest.mark.parametrize("scheduler", ["cosine", "step", "onecycle"])
def test_schedulers_step_identically_on_both_paths(make_cfg, tmp_path, scheduler):
    extra = ["scheduler.scheduler.step_size=1"] if scheduler == "step" else []
    out = both_paths(make_cfg, tmp_path, f"scheduler={scheduler}", "trainer.max_epochs=3", *extra)
    lrs = out["fast"][2].lrs
    assert len(set(lrs)) == 3 and lrs != [1e-3] * 3  # the learning rate moved every epoch


def test_mixed_precision_and_determinism_on_both_paths(make_cfg, tmp_path):
    before = torch.are_deterministic_algorithms_enabled()
    try:
        out = both_paths(make_cfg, tmp_path, "trainer.precision=bf16-mixed", "+trainer.deterministic=true")
    finally:
        torch.use_deterministic_algorithms(before)
    assert all(out["fast"][2].deterministic)


def test_best_weights_ends_on_the_best_validation_epoch(make_cfg, tmp_path):
    overrides = ("val_size=30", "callbacks=[best_weights]", "trainer.max_epochs=12", "optimizer.lr=0.05")
    out = both_paths(make_cfg, tmp_path, *overrides, labels=10)
    strategy, _, recorder = out["fast"]
    best = min(range(len(recorder.val_loss)), key=recorder.val_loss.__getitem__)
    assert best < len(recorder.val_loss) - 1  # the last epoch is not the best: the restore matters
    assert all(torch.equal(v, recorder.weights[best][k]) for k, v in strategy.state_dict().items())


def test_max_time_stops_an_endless_fit(make_cfg, tmp_path):
    for mode in PATHS:
        s, trainer, _ = fit_once(
            make_cfg,
            tmp_path / mode,
            f"fit_mode={mode}",
            "trainer.max_epochs=-1",
            "+trainer.max_time={seconds:0.3}",
        )
        assert trainer.should_stop and trainer.current_epoch >= 1 and s.fitting.path.name == mode


@pytest.mark.parametrize("mode", PATHS)
def test_a_non_finite_loss_fails_the_run_on_both_paths(make_cfg, tmp_path, mode):
    from alrun.errors import RunFailed

    with pytest.raises(RunFailed, match="training loss is"):
        fit_once(
            make_cfg,
            tmp_path,
            f"fit_mode={mode}",
            "optimizer=sgd",
            "optimizer.lr=1e30",
            "trainer.max_epochs=5",
        )


class Penalised(Strategy):
    """A user's Strategy subclass with its own training_step: the loss plus an L2 penalty."""

    calls = 0

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        Penalised.calls += 1
        return super().training_step(batch, batch_idx) + 0.1 * sum(
            (p**2).sum() for p in self.net.parameters()
        )


def test_a_subclass_that_overrides_training_step_is_fitted_by_lightnings_loop(make_cfg, tmp_path):
    from alrun.errors import ConfigError

    plain = fit_once(make_cfg, tmp_path / "plain", "trainer.max_epochs=3", "batch_size=8")[0]
    strategy = fit_once(make_cfg, tmp_path / "auto", "trainer.max_epochs=3", "batch_size=8")[0]
    strategy.__class__ = Penalised  # the same pools and model, now the user's class
    strategy.reset_model()  # back to the weights the plain fit started from
    Penalised.calls = 0
    fit(strategy, TrainerFactory.from_config(make_cfg("trainer.max_epochs=3", "batch_size=8"), tmp_path)(0))
    assert (
        strategy.fitting.path.name == "lightning"
        and "overrides training_step" in strategy.fitting.path.reason
    )
    assert Penalised.calls == 3 * 3  # every mini-batch went through the override
    assert any(not torch.equal(v, plain.net.state_dict()[k]) for k, v in strategy.net.state_dict().items())
    strategy.fitting.fit_mode = "fast"
    with pytest.raises(
        ConfigError, match=r"fit_mode=fast cannot serve module Penalised .*overrides training_step"
    ):
        fit(strategy, TrainerFactory.from_config(make_cfg("trainer.max_epochs=3"), tmp_path)(0))
