"""From a composed config to a finished run: instantiate the objects and call ``run_loop``.

Only the CLI calls this module; it imports the heavy stack (torch, Lightning), so ``alrun --help``
and config errors never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from alrun.active.loop import Plan, RunObserver
from alrun.active.pool import ActivePool
from alrun.active.stopping import Stopping
from alrun.active.strategy import Strategy
from alrun.config.checks import check_pool_size
from alrun.config.instantiation import checked_calls, instantiate_checked
from alrun.data.python import build_dataset
from alrun.data.splits import Splits, hold_out
from alrun.data.tensors import fingerprint
from alrun.errors import ConfigError
from alrun.launched import is_child
from alrun.models.adapt import model_factory
from alrun.run import checkpoint, threads
from alrun.run.checkpoint import Checkpointer, RunState
from alrun.run.display import Display
from alrun.run.logbook import RunLogger
from alrun.run.loggers import logger_settings
from alrun.run.meta import earlier_processes, run_meta
from alrun.run.ranks import rank_observers, run_on_ranks, start_ranks
from alrun.run.records import RunFolder
from alrun.run.safety import maybe_die
from alrun.run.summary import RunSummary
from alrun.seeding import Streams
from alrun.strategies.function import build_acquisition
from alrun.training.paths import FitPath
from alrun.training.preflight import check_fit, schedule
from alrun.training.trainers import TrainerFactory, quiet_lightning

__all__ = ["Experiment", "build", "build_strategy", "quiet_lightning", "run_experiment"]


@dataclass
class Experiment:
    """Everything ``run_loop`` needs."""

    strategy: Strategy
    make_trainer: Any
    plan: Plan
    observers: list[RunObserver]
    state: RunState
    stopping: Stopping
    threads: int  # torch CPU threads for the run (`threads` in the config, resolved)
    fit_path: FitPath


def check_val_size(val_size: int, training_labels: int, pool_size: int) -> None:
    """Refuse a validation set that leaves too few items for the training labels."""
    if val_size and val_size + training_labels > pool_size:
        allowed = max(pool_size - training_labels, 0)
        raise ConfigError(
            f"val_size={val_size} leaves {pool_size - val_size} of the {pool_size} pool items for "
            f"initial_size + budget = {training_labels} (allowed: val_size <= {allowed})"
        )


def build_strategy(cfg: DictConfig, splits: Splits, streams: Streams) -> Strategy:
    """The Strategy module over the dataset's pools, with the configured net, optimizer and acquisition."""
    check_val_size(cfg.val_size, cfg.initial_size + cfg.budget, len(splits.train))
    train, val = hold_out(splits.train, int(cfg.val_size), streams.entropy("split"))
    check_pool_size(cfg.initial_size, cfg.budget, cfg.val_size, len(train))
    factory = model_factory(cfg.model, splits.input_shape, splits.n_classes, train.x[:2].clone())
    net_factory = checked_calls(factory, cfg.model, "model")
    return Strategy(
        net_factory=net_factory,
        acquisition=build_acquisition(cfg.strategy),
        train_pool=ActivePool(train, "train"),
        val_pool=ActivePool(val, "val") if cfg.val_size else None,
        test=splits.test,
        optimizer=instantiate_checked(cfg.optimizer, "optimizer"),
        streams=streams,
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch_size,
        reset=cfg.reset,
        fit_mode=cfg.fit_mode,
        pool_subsample=cfg.pool_subsample,
        scheduler=schedule(cfg),
        epoch_samples=cfg.epoch_samples,
        weight_decay_groups=cfg.weight_decay_groups,
        eval_mc_samples=cfg.eval_mc_samples,
    )


def build_stopping(cfg: DictConfig, strategy: Strategy) -> Stopping:
    """The ``stopping`` group's rules (none by default), each checked against the run first."""
    rules = {
        str(name): instantiate_checked(node, f"stopping.{name}")
        for name, node in (cfg.get("stopping") or {}).items()
    }
    stopping = Stopping(rules)
    stopping.setup(strategy)
    return stopping


def check_same_data(cfg: DictConfig, run_dir: Path, state: RunState, digest: str) -> None:
    """Refuse to resume a run on data other than those its checkpoint was made on."""
    if state.data_hash != digest:
        where = cfg.dataset.get("path") or cfg.dataset.get("root") or cfg.dataset.get("_target_")
        raise ConfigError(
            f"{run_dir} holds a run made on other data, refusing to resume it (dataset {where}: hash "
            f"{digest} now, {state.data_hash} in its checkpoint); allowed: the run's own data, or a new "
            "folder"
        )


def restore_strategy(strategy: Strategy, run_dir: Path, state: RunState) -> None:
    """Load the checkpoint's strategy state; one line if it does not fit this run."""
    try:
        strategy.resume.load_state_dict(state.strategy)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        problem = " ".join(str(exc).split())[:200]
        raise checkpoint.damaged(run_dir / checkpoint.FILENAME, f"its strategy state: {problem}") from None


def build(cfg: DictConfig, run_dir: Path, state: RunState | None = None) -> Experiment:
    """Instantiate the run's objects from the composed config (and restore ``state`` when resuming).

    Nothing is written here: files are written once the run starts (``run_loop``).
    """
    fit_path = check_fit(cfg, run_dir)
    streams = Streams(cfg.seed)
    splits = build_dataset(cfg.dataset)
    digest = fingerprint(splits.train, splits.test)
    strategy = build_strategy(cfg, splits, streams)
    stopping = build_stopping(cfg, strategy)
    n_threads = threads.resolve(cfg.threads, strategy.net, splits.input_shape, cfg.batch_size)
    state = state or RunState(config=resolved(cfg), strategy={})
    folder = RunFolder(
        run_dir,
        run_meta(cfg)
        | {"threads": n_threads, "fit_path": fit_path.name, "fit_path_reason": fit_path.reason}
        | {"ranks": fit_path.ranks},
    )
    if state.rounds_done:
        check_same_data(cfg, run_dir, state, digest)
        restore_strategy(strategy, run_dir, state)
        stopping.load_state_dict(state.stopping)
        folder.restore(
            state.rows,
            state.records,
            {"rounds_done": state.rounds_done, "resumed_at_round": state.rounds_done}
            | {"earlier_processes": earlier_processes(run_dir)},
        )
    display = Display(live=cfg.progress)
    settings = logger_settings(cfg)
    run_logger = RunLogger(settings, run_dir, resolved(cfg), state.rows) if settings else None

    def extra() -> list[Any]:
        return [*display.callbacks(), *([run_logger.callback()] if run_logger else [])]

    trainers = TrainerFactory.from_config(cfg, run_dir, extra=extra)

    def make_trainer() -> Any:
        return trainers(strategy.round)

    state.data_hash = digest
    plan = Plan(cfg.budget, cfg.query_size, cfg.initial_size, cfg.initial, cfg.val_size)
    logged: list[RunObserver] = [run_logger] if run_logger else []  # flushed before the checkpoint
    checkpointer = Checkpointer(run_dir, strategy.resume, state, stopping)
    observers: list[RunObserver] = [folder, *logged, checkpointer, display]
    return Experiment(strategy, make_trainer, plan, observers, state, stopping, n_threads, fit_path)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain, resolved Python containers."""
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def prepare_state(cfg: DictConfig, run_dir: Path) -> RunState:
    """A fresh run state, or the folder's checkpoint when its config matches this command's.

    Raises:
        ConfigError: the folder holds a run made with other settings (its ``.hydra`` files, which
            Hydra has just overwritten, are put back first), or ``resume=`` names a folder with
            nothing to resume.
    """
    config, hydra_files = resolved(cfg), checkpoint.read_hydra_files(run_dir)
    state = checkpoint.load(run_dir)
    if state is None:
        if cfg.get("resume"):
            raise ConfigError(f"resume={cfg.resume}: no checkpoint.pt in that folder (allowed: a run folder)")
        return RunState(config=config, strategy={}, hydra_files=hydra_files)
    diff = checkpoint.config_diff(state.config, config)
    if diff:
        checkpoint.restore_hydra_files(run_dir, state.hydra_files)
        raise ConfigError(
            f"{run_dir} holds a run with other settings, refusing to resume it ({'; '.join(diff)}); "
            "allowed: the run's own settings, or a new folder"
        )
    return state


def run_experiment(
    cfg: DictConfig,
    run_dir: Path,
    started: Callable[[], None] | None = None,
    overrides: Sequence[str] | None = None,
) -> float:
    """Build and run (or resume) the experiment; returns the final test accuracy (for sweepers).

    Args:
        cfg: the composed run config.
        run_dir: the run folder.
        started: called once everything is built and checked, just before the run starts writing its
            files (the CLI's guard of the run folder: a command refused before then leaves no trace).
        overrides: the command's arguments, for the ranks a several-device run launches
            (:mod:`alrun.run.ranks`); ``None`` refuses such a run.
    """
    start = perf_counter()
    quiet_lightning()
    state = prepare_state(cfg, run_dir)
    console = Console(highlight=False, markup=False)
    console.print(f"run folder: {run_dir}", soft_wrap=True)
    if state.finished:
        message = f"already finished: {run_dir} (remove its checkpoint.pt to run it again)"
        console.print(message, soft_wrap=True)
        return float(state.rows[-1]["test/acc"])
    if state.rounds_done:
        console.print(f"resuming {run_dir} at round {state.rounds_done}", soft_wrap=True)
    before = torch.get_num_threads()
    try:
        exp = build(cfg, run_dir, state)
        torch.set_num_threads(exp.threads)
        console.print(f"fit path: {exp.fit_path.name} ({exp.fit_path.reason})", soft_wrap=True)
        maybe_die("startup", 4)
        group = start_ranks(cfg, run_dir, exp.fit_path.ranks, overrides) if exp.fit_path.ranks > 1 else None
        try:
            if started is not None:
                started()
        except BaseException:
            if group is not None:
                group.close(ok=False)
            raise
        summary = RunSummary(cfg.budget, state.rows)
        observers = rank_observers([*exp.observers, summary], group)
        row = run_on_ranks(exp, observers, state.rounds_done, group)
    finally:
        torch.set_num_threads(before)  # a sweep's next job starts from the same setting
    if not is_child():  # the other ranks hold no rows
        console.print(summary.line(run_dir, perf_counter() - start), soft_wrap=True)
    return float((row or state.rows[-1])["test/acc"])
