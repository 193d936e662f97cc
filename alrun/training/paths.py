"""Which fit path serves what, and the choice of path for one fit.

``fast`` is alrun's own mini-batch loop (:mod:`alrun.training.fast`), ``lightning`` is Lightning's
automatic optimization, one ``training_step`` per mini-batch. ``fit_mode=auto`` takes the fast path
unless the Trainer asks for something only Lightning's per-step loop serves; ``fit_mode=fast`` refuses
such a Trainer in one line; ``fit_mode=lightning`` always takes Lightning's loop. :data:`FEATURES` is
the table in docs/performance.md (a test keeps the two equal and checks that it names every
``Trainer`` argument).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden

from alrun.errors import ConfigError

FIT_MODES = ("auto", "fast", "lightning")
# the training hooks Lightning calls around every mini-batch; the fast path calls none of them
BATCH_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
)
# what a LightningModule subclass may override that only Lightning's per-step loop calls
MODULE_HOOKS = (*BATCH_HOOKS, "training_step", "optimizer_step", "optimizer_zero_grad", "backward")


@dataclass(frozen=True)
class Feature:
    """One row of the table: a setting, which paths serve it, and how (or why not).

    ``path`` is ``both``, ``lightning`` (``auto`` takes Lightning's loop, ``fast`` refuses) or
    ``refused`` (neither path can honour it: refused before anything is written).
    """

    setting: str
    path: str
    note: str
    asked: Callable[[Any], bool] = lambda trainer: False  # Any: Lightning sets these attributes at run time


def _loop(name: str, note: str, asked: Callable[[Any], bool]) -> Feature:
    return Feature(name, "lightning", note, asked)


FEATURES: tuple[Feature, ...] = (
    Feature("trainer.max_epochs / min_epochs", "both", "real epochs, counted in `trainer.current_epoch`"),
    Feature("trainer.max_steps / min_steps", "both", "optimizer steps, counted in `trainer.global_step`"),
    Feature("trainer.max_time", "both", "Lightning's `Timer`, checked after every optimizer step"),
    Feature(
        "trainer.check_val_every_n_epoch", "both", "Lightning's own validation loop, after every n-th epoch"
    ),
    Feature("trainer.limit_val_batches", "both", "validation is Lightning's own loop in both paths"),
    Feature(
        "trainer.precision",
        "both",
        "autocast around each forward pass; `16-mixed` through Lightning's scaler",
    ),
    Feature(
        "trainer.deterministic / benchmark / detect_anomaly", "both", "set by the Trainer for the whole fit"
    ),
    Feature("trainer.num_sanity_val_steps", "both", "Lightning's sanity check runs before either path"),
    Feature("trainer.accelerator / default_root_dir / barebones / plugins", "both", "the Trainer's own"),
    Feature("trainer.enable_model_summary / enable_autolog_hparams / model_registry", "both", "fit-level"),
    Feature(
        "trainer.use_distributed_sampler / sync_batchnorm",
        "both",
        "no effect on one device; under DDP alrun shards the mini-batches itself, and `sync_batchnorm` "
        "is Lightning's",
    ),
    Feature(
        "`scheduler=cosine` / `step` / `onecycle`",
        "both",
        "built afresh each fit by `configure_optimizers`; stepped where Lightning steps it",
    ),
    Feature(
        "callbacks with fit-, epoch- and validation-level hooks only",
        "both",
        "`EarlyStopping`, `BestWeights`, `ModelSummary`: their hooks run after every real epoch, "
        "in Lightning's order",
    ),
    Feature(
        "callbacks with a per-batch training hook",
        "lightning",
        "`ModelCheckpoint`, `LearningRateMonitor`, progress bars: they run on every optimizer step",
    ),
    _loop(
        "trainer.enable_checkpointing / enable_progress_bar", "they add a per-batch callback", lambda t: False
    ),
    _loop("trainer.logger", "the fast path feeds no Lightning logger", lambda t: bool(t.loggers)),
    _loop(
        "trainer.gradient_clip_val / gradient_clip_algorithm",
        "clipping is part of Lightning's optimizer step",
        lambda t: bool(t.gradient_clip_val),
    ),
    _loop(
        "trainer.accumulate_grad_batches",
        "accumulation is part of Lightning's optimizer step",
        lambda t: t.accumulate_grad_batches != 1,
    ),
    _loop("trainer.limit_train_batches", "Lightning cuts each epoch", lambda t: t.limit_train_batches != 1.0),
    _loop("trainer.log_every_n_steps", "per-step logging", lambda t: t.log_every_n_steps != 50),
    _loop("trainer.val_check_interval", "validation inside an epoch", lambda t: t.val_check_interval != 1.0),
    _loop("trainer.overfit_batches", "Lightning picks the batches", lambda t: bool(t.overfit_batches)),
    _loop(
        "trainer.reload_dataloaders_every_n_epochs",
        "Lightning reloads the data",
        lambda t: bool(t.reload_dataloaders_every_n_epochs),
    ),
    _loop("trainer.fast_dev_run", "Lightning's debug run", lambda t: bool(t.fast_dev_run)),
    _loop(
        "trainer.profiler",
        "it times Lightning's per-step hooks",
        lambda t: not isinstance(t.profiler, PassThroughProfiler),
    ),
    Feature(
        "trainer.limit_test_batches / limit_predict_batches",
        "refused",
        "alrun evaluates and scores outside the Trainer, on all items; remove it",
        lambda t: t.limit_test_batches != 1.0 or t.limit_predict_batches != 1.0,
    ),
    Feature(
        "trainer.inference_mode",
        "refused",
        "alrun evaluates under inference_mode, outside the Trainer; remove it",
        lambda t: not t.test_loop.inference_mode,
    ),
    Feature(
        "trainer.strategy (other than ddp)",
        "refused",
        "alrun serves several devices through `trainer=ddp` / `trainer=ddp_cpu` (`ddp_spawn` would fit "
        "each round in a child process and lose its state); use strategy=ddp",
        lambda t: unserved_strategy(t.strategy),
    ),
    _loop(
        "trainer.devices (several, strategy=ddp)",
        "data-parallel: each rank trains on its shard of every mini-batch, Lightning's DDP averages "
        "the gradients",
        lambda t: ranks_of(t) > 1,
    ),
    _loop(
        "trainer.num_nodes (several, under srun)",
        "one Slurm task per device: `srun --nodes=N --ntasks-per-node=D alrun trainer=ddp ...`; "
        "refused outside a Slurm step (alrun launches the ranks of one machine only)",
        lambda t: t.num_nodes > 1,
    ),
)


def ranks_of(trainer: Any) -> int:
    """The processes a Trainer asks for: its devices on each of its nodes (not ``world_size``, which
    an outside cluster environment such as Slurm's may set to something else)."""
    return int(trainer.num_devices) * int(trainer.num_nodes)


def unserved_strategy(strategy: Any) -> bool:
    """Whether alrun cannot run a fit under this Lightning strategy: anything but one device or
    DDP with ranks alrun launched itself (``ddp``; not ``ddp_spawn``, ``ddp_fork``, FSDP, DeepSpeed)."""
    if isinstance(strategy, SingleDeviceStrategy):
        return False
    return not (type(strategy) is DDPStrategy and getattr(strategy, "_start_method", None) == "popen")


@dataclass(frozen=True)
class FitPath:
    """The path one fit takes, and why."""

    name: str
    reason: str
    ranks: int = 1


def _first_setting(feature: Feature) -> str:
    return feature.setting.split(" / ")[0]


def check_served(trainer: pl.Trainer) -> None:
    """Refuse what neither path can honour (one line naming the setting)."""
    for feature in FEATURES:
        if feature.path == "refused" and feature.asked(trainer):
            raise ConfigError(f"{feature.setting} is not supported ({feature.note})")


def lightning_needs(
    trainer: pl.Trainer, module: pl.LightningModule | None = None, base: type | None = None
) -> list[tuple[str, str]]:
    """``(setting, why)`` for everything in this fit that only Lightning's per-step loop serves
    (``module``: hooks it overrides relative to ``base``, alrun's Strategy class)."""
    needs = []
    for cb in cast(Any, trainer).callbacks:
        hooks = [h for h in BATCH_HOOKS if is_overridden(h, cb, pl.Callback)]
        if hooks and not isinstance(cb, Timer):  # the fast path checks the Timer after every step itself
            needs.append((f"callback {type(cb).__name__}", f"it hooks into every training batch: {hooks[0]}"))
    needs += [(_first_setting(f), f.note) for f in FEATURES if f.path == "lightning" and f.asked(trainer)]
    if module is not None and base is not None:
        hooks = [h for h in MODULE_HOOKS if is_overridden(h, module, base)]
        if hooks:
            needs.append((f"module {type(module).__name__}", f"it overrides {hooks[0]}"))
    return needs


def choose(
    trainer: pl.Trainer, fit_mode: str, module: pl.LightningModule | None = None, base: type | None = None
) -> FitPath:
    """The path of a fit of ``module`` (a subclass of ``base``) by ``trainer`` under ``fit_mode``.

    Raises:
        ConfigError: an unknown ``fit_mode``, a setting neither path honours, or ``fit_mode=fast``
            with something only Lightning's loop serves.
    """
    if fit_mode not in FIT_MODES:
        raise ConfigError(f"fit_mode={fit_mode!r} is not allowed (choose from: {', '.join(FIT_MODES)})")
    check_served(trainer)
    ranks = ranks_of(trainer)
    if ranks > 1 and fit_mode == "lightning":
        return FitPath("lightning", "fit_mode=lightning: Lightning's loop under DDP", ranks)
    if fit_mode == "lightning":
        return FitPath("lightning", "fit_mode=lightning: Lightning's loop, one training_step per mini-batch")
    needs = lightning_needs(trainer, module, base)
    if needs and fit_mode == "fast":
        setting, why = needs[0]
        raise ConfigError(f"fit_mode=fast cannot serve {setting} ({why}); use fit_mode=lightning (or auto)")
    if needs:
        setting, why = needs[0]
        return FitPath("lightning", f"{setting} needs Lightning's per-step loop ({why})", ranks)
    if fit_mode == "fast":
        return FitPath("fast", "fit_mode=fast")
    return FitPath("fast", "nothing in this run needs Lightning's per-step loop")


SERVED_BY = {
    "both": "both paths",
    "lightning": "Lightning's loop (`auto` takes it; `fast` refuses)",
    "refused": "refused up front",
}


def table() -> str:
    """:data:`FEATURES` as the markdown table of docs/performance.md."""
    lines = ["| setting | served by | how, or why not |", "|---|---|---|"]
    for f in FEATURES:
        setting = f.setting
        if setting.startswith("trainer."):
            setting = " / ".join(f"`{part.strip()}`" for part in setting.split(" / "))
        lines.append(f"| {setting} | {SERVED_BY[f.path]} | {f.note} |")
    return "\n".join(lines)
