"""The fast fit path: a round's real epochs run by alrun's own mini-batch loop, inside Lightning's fit.

Lightning's per-step and per-epoch machinery costs about as much as a small model's arithmetic
(docs/performance.md), so this path runs the mini-batch loop itself with the bare optimizer. It runs
from the module's ``on_train_start`` (after every callback's) and keeps Lightning's contract wherever
a callback, the module or the Trainer can look, mirroring ``_FitLoop`` and ``_TrainingEpochLoop``:

* each real epoch advances the fit loop's progress (``trainer.current_epoch``) and calls the
  ``on_train_epoch_start`` / ``on_train_epoch_end`` hooks in Lightning's order (monitoring callbacks
  after the module); each optimizer step counts in ``trainer.global_step``;
* validation is Lightning's own validation loop, run when due (``check_val_every_n_epoch``, or when
  the fit is told to stop mid-epoch), so ``val/*`` and the validation hooks are Lightning's;
* schedulers are stepped where Lightning steps them (``step`` interval after each optimizer step,
  ``epoch`` interval after an epoch's last step, before validation);
* ``max_steps``, ``max_time`` (Lightning's ``Timer``, checked after each step) and
  ``trainer.should_stop`` (honouring ``min_epochs`` / ``min_steps``) end the fit where Lightning's
  loop would: epochs run while Lightning's own ``fit_loop.done`` is false, so on return its fit loop
  finds itself done and goes on with ``on_train_end`` and ``on_fit_end``.

The batches, loss and optimizer calls are the lightning path's, so both give bit-identical weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, cast

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from lightning.pytorch.trainer import call
from lightning.pytorch.utilities.model_helpers import is_overridden

from alrun.data.tensors import ShuffledBatches, epoch_slices

EPOCH_HOOKS = ("on_train_epoch_start", "on_train_epoch_end")
# precision plugins whose optimizer step and backward are the bare optimizer's and ``loss.backward()``
BARE_PRECISION = (Precision, MixedPrecision, HalfPrecision, DoublePrecision)
Step = Callable[[torch.Tensor, torch.Tensor], None]


def make_step(
    trainer: pl.Trainer,
    module: pl.LightningModule,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Step:
    """One optimizer step on a mini-batch, with the arithmetic of Lightning's automatic optimization:
    zero the gradients, the loss under the precision plugin's context, backward, step. A gradient
    scaler (``16-mixed``) or any other precision plugin goes through Lightning's own optimizer."""
    plugin = trainer.precision_plugin
    bare = type(plugin) in BARE_PRECISION and getattr(plugin, "scaler", None) is None
    opt: Any = module.optimizers(use_pl_optimizer=not bare)
    backward = torch.Tensor.backward if bare else module.manual_backward
    context = contextlib.nullcontext if type(plugin) is Precision else plugin.train_step_context

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        with context():
            value = loss(x, y)
        backward(value)
        opt.step()

    return step


class FastLoop:
    """Runs the rest of a fit's epochs (see the module docstring).

    Args:
        trainer: the fitting Trainer, inside ``on_train_start``.
        module: the LightningModule being fitted.
        batches: the epoch draws (the module's ``train_dataloader``).
        step: one optimizer step on a mini-batch (:func:`make_step`).
    """

    def __init__(self, trainer: pl.Trainer, module: pl.LightningModule, batches: ShuffledBatches, step: Step):
        self.trainer, self.module, self.batches, self.step = trainer, module, batches, step
        self.fit_loop = trainer.fit_loop
        self.epoch_loop = trainer.fit_loop.epoch_loop
        self.steps = self.epoch_loop.manual_optimization.optim_step_progress
        callbacks = cast(Any, trainer).callbacks
        self.timer = next((cb for cb in callbacks if isinstance(cb, Timer)), None)
        self.schedules = [c for c in trainer.lr_scheduler_configs if not c.reduce_on_plateau]
        # hooks no callback (or the module) implements are skipped: calling them would do nothing
        self.hooks = {h for h in EPOCH_HOOKS if any(is_overridden(h, cb, pl.Callback) for cb in callbacks)}
        self.module_hooks = {h for h in EPOCH_HOOKS if is_overridden(h, module, pl.LightningModule)}
        self.validates = bool(trainer.enable_validation)

    def run(self) -> None:
        """Train epochs until Lightning's fit loop is done."""
        while not self.fit_loop.done:
            self._start_epoch()
            batches, last = self._train_epoch()
            self.epoch_loop.batch_progress.increment_by(batches, is_last_batch=last)
            if self.validates and self._val_epoch() and (last or self._may_stop()):
                self._validate()
            self.epoch_loop._batches_that_stepped += batches
            self._end_epoch()

    def _start_epoch(self) -> None:
        """``_FitLoop.on_advance_start`` and ``_TrainingEpochLoop.reset``."""
        progress = self.fit_loop.epoch_progress
        progress.increment_ready()
        self._hook("on_train_epoch_start")
        progress.increment_started()
        self.epoch_loop.batch_progress.reset_on_run()
        self.epoch_loop.scheduler_progress.reset_on_run()
        self.epoch_loop.val_loop.batch_progress.total.reset()

    def _train_epoch(self) -> tuple[int, bool]:
        """The epoch's mini-batches; returns how many ran and whether the epoch ran to its end."""
        xs, ys = self.trainer.precision_plugin.convert_input(self.batches.epoch())
        n = len(self.batches)
        max_steps, total = self.epoch_loop.max_steps, self.steps.total
        for i, part in enumerate(epoch_slices(len(ys), self.batches.batch_size)):
            self.step(xs[part], ys[part])
            total.ready += 1
            total.completed += 1
            last = i == n - 1
            if self.schedules:
                self._schedule("step", i + 1)
                if last:
                    self._schedule("epoch", self.trainer.current_epoch + 1)
            if self.timer is not None:
                self.timer.on_train_batch_end(self.trainer, self.module, None, None, i)
            if last or (max_steps != -1 and total.completed >= max_steps) or self._may_stop():
                return i + 1, last
        return n, True

    def _may_stop(self) -> bool:
        return self.trainer.should_stop and self.fit_loop._can_stop_early

    def _val_epoch(self) -> bool:
        """``_TrainingEpochLoop._should_check_val_epoch`` (validation is enabled: checked once)."""
        every = self.trainer.check_val_every_n_epoch
        return every is None or (self.trainer.current_epoch + 1) % every == 0

    def _hook(self, name: str, monitoring: bool | None = None) -> None:
        """Lightning's callback hooks (all, or the non-monitoring / monitoring ones), then the module's."""
        if name in self.hooks:
            call._call_callback_hooks(self.trainer, name, monitoring_callbacks=monitoring)
        if name in self.module_hooks and monitoring is not True:
            call._call_lightning_module_hook(self.trainer, name)

    def _schedule(self, interval: str, index: int) -> None:
        """``_TrainingEpochLoop._update_learning_rates`` for the non-plateau schedulers."""
        for config in self.schedules:
            if config.interval == interval and index % config.frequency == 0:
                self.epoch_loop.scheduler_progress.increment_ready()
                call._call_lightning_module_hook(self.trainer, "lr_scheduler_step", config.scheduler, None)
                self.epoch_loop.scheduler_progress.increment_completed()

    def _validate(self) -> None:
        """Lightning's validation loop, as ``_TrainingEpochLoop.on_advance_end`` runs it."""
        trainer = self.trainer
        trainer.validating = True
        first_loop_iter = trainer._logger_connector._first_loop_iter
        call._call_lightning_module_hook(trainer, "on_validation_model_zero_grad")
        self.epoch_loop.val_loop.run()
        trainer.training = True
        trainer._logger_connector._first_loop_iter = first_loop_iter
        self.validates = not self.epoch_loop.val_loop.skip  # no validation items: nothing to run again

    def _end_epoch(self) -> None:
        """``_FitLoop.on_advance_end`` (no plateau schedulers)."""
        progress, connector = self.fit_loop.epoch_progress, self.trainer._logger_connector
        connector.epoch_end_reached()
        progress.increment_processed()
        self._hook("on_train_epoch_end", monitoring=False)
        self._hook("on_train_epoch_end", monitoring=True)
        if self.epoch_loop._results:  # something was logged this epoch: Lightning's epoch-end logging
            connector.on_epoch_end()
            self.epoch_loop._batches_that_stepped -= 1
            connector.update_train_epoch_metrics()
            self.epoch_loop._batches_that_stepped += 1
        else:  # what those calls leave when nothing was logged
            connector._current_fx = None
        progress.increment_completed()
