"""The ``alrun`` command: Hydra composes the config, this file stays thin.

Bad input (an unknown option or key, a value out of range, a missing data file, a damaged
checkpoint, a run folder another process holds) ends the command with one line on stderr naming
the problem, and exit code 2, before the run starts: a fresh run folder is removed again and an
existing one is left byte-identical (``alrun.run.guard``). ``HYDRA_FULL_ERROR=1`` adds the traceback.
Ctrl-C exits with 130 and SIGTERM with 143, the run marked ``interrupted``.
In a sweep (``-m``) a failing job writes ``"status": "failed"`` and the reason into its ``run.json``
and the other jobs still run; then the sweep exits as that job would have (2 for bad input).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from alrun import cli_early, help_cache
from alrun.config.checks import validate
from alrun.errors import ConfigError, RunFailed, UserError
from alrun.help_cache import config_dir
from alrun.launched import (
    CHILD_OVERRIDES,
    is_child,
    launched_by_alrun,
    launcher_job,
    slurm_launched,
    slurm_run_dir,
)
from alrun.messages import FULL_ERROR, describe, fail, known_error
from alrun.run import guard as folder_guard
from alrun.run.records import record_failure
from alrun.run.safety import (
    exit_interrupted,
    install_signal_handlers,
    interrupt_name,
    maybe_die,
    received_signal,
)
from alrun.run.threads import choose_openmp_wait

MAX_DIRNAME = 200  # characters; file systems refuse names over 255 bytes


def job_dirname(overrides: str) -> str:
    """A sweep job's sub-folder name from its overrides (``seed=0,strategy=margin``).

    A ``/`` in a key or value would split the name into nested folders: it becomes ``_``. A name
    longer than :data:`MAX_DIRNAME` keeps its start and ends with a hash of the whole, so it stays unique.
    """
    name = overrides.replace("/", "_")
    if len(name) <= MAX_DIRNAME:
        return name
    digest = hashlib.sha256(overrides.encode()).hexdigest()[:12]
    return f"{name[: MAX_DIRNAME - 13]}~{digest}"


OmegaConf.register_new_resolver("alrun.dirname", job_dirname, replace=True)
# `resume=PATH` puts the run in PATH (see configs/hydra/default.yaml and `resume_argv`).
OmegaConf.register_new_resolver(
    "alrun_run_dir", lambda resume, new: str(resume) if resume else slurm_run_dir() or new, replace=True
)


def check_config(cfg: DictConfig) -> None:
    """The validation phase: every check of the config before the run is built. Cheap top-level
    checks first, then those of ``alrun.run.preflight`` (which import torch)."""
    validate(cfg)
    from alrun.run.preflight import preflight

    preflight(cfg)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _task(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    guard = None
    try:
        # a single run's folder was locked before Hydra wrote into it; a sweep job locks it now
        if not is_child():  # a launched rank writes nothing: rank 0 holds the folder
            guard = folder_guard.take(run_dir) or folder_guard.RunFolderGuard.open(run_dir, record=False)
        maybe_die("startup", 3)
        check_config(cfg)
        from alrun.training.preflight import check_fit  # heavy imports only once a run really starts

        path = check_fit(cfg, run_dir)  # Trainer, callbacks, fit path: refused before anything is written
        if path.ranks > 1 and HydraConfig.get().mode == RunMode.MULTIRUN and not launcher_job():
            raise ConfigError(f"trainer.devices={path.ranks} runs one experiment at a time; drop -m")
        from alrun.run.experiment import run_experiment

        started = guard.commit if guard is not None else None
        return run_experiment(cfg, run_dir, started, sys.argv[1:])  # for the ranks a run launches
    except BaseException as exc:
        stopped(exc, cfg, run_dir, guard)
        raise
    finally:
        if guard is not None:
            guard.release()  # a run that never started leaves the folder as it was


def stopped(exc: BaseException, cfg: DictConfig, run_dir: Path, guard: Any) -> None:
    """Record in ``run.json`` why a run that had started (or a sweep job) stopped, if it could not;
    a single run's user error is then printed as one line (exit), a sweep job's raised for the sweep."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    committed = guard is not None and guard.committed
    if isinstance(exc, KeyboardInterrupt):
        if committed:
            record_failure(run_dir, interrupt_name(), status="interrupted", seed=cfg.get("seed"))
        return
    if not isinstance(exc, Exception):
        return
    error = known_error(exc)
    if committed or (multirun and guard is not None):  # the folder is this job's: say why it failed
        record_failure(run_dir, describe(error or exc), seed=cfg.get("seed"))
    if error is not None and multirun:
        raise error from exc
    if error is not None:
        fail(error, exc)


def resume_argv(argv: list[str]) -> list[str]:
    """With ``resume=PATH``, put the overrides recorded in ``PATH/.hydra/overrides.yaml`` first, so
    the run continues with its own settings (later arguments still override them)."""
    paths = [a.split("=", 1)[1] for a in argv if a.startswith("resume=")]
    if not paths or not paths[-1]:
        return argv
    saved = Path(paths[-1]) / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ConfigError(f"resume={paths[-1]}: not a run folder (no .hydra/overrides.yaml there)")
    recorded = [str(o) for o in read_overrides(saved) if not str(o).startswith(("resume=", "hydra.run.dir="))]
    return recorded + argv


def read_overrides(path: Path) -> list[Any]:
    """The override list of a run's ``.hydra/overrides.yaml``; a ConfigError when it is not one."""
    try:
        recorded = OmegaConf.to_container(OmegaConf.load(path))
    except Exception as exc:
        problem = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{path} is not a list of overrides ({type(exc).__name__}: {problem})") from None
    if not isinstance(recorded, list) or not all(isinstance(o, str) for o in recorded):
        raise ConfigError(f"{path} is not a list of overrides (it holds a {type(recorded).__name__})")
    return recorded


HANDLED = (UserError, RunFailed, OSError, HydraException, OmegaConfBaseException)


def version() -> str:
    """``alrun X (torch Y, lightning Z, hydra W, python V)``, read from package metadata (no imports)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    import alrun

    parts = []
    for name in ("torch", "lightning", "hydra-core"):
        try:
            parts.append(f"{name.removesuffix('-core')} {installed(name)}")
        except PackageNotFoundError:
            parts.append(f"{name.removesuffix('-core')} not installed")
    return f"alrun {alrun.__version__} ({', '.join(parts)}, python {sys.version.split()[0]})"


def import_from_cwd() -> None:
    """Put the working directory first on the import path, as ``python -m alrun`` does, so that
    ``_target_: mymodule.Thing`` finds ``./mymodule.py``; also for sweep jobs in other processes."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *filter(None, paths)])


def answer_early(argv: list[str]) -> bool:
    """Before Hydra starts (``alrun.cli_early``): print ``--help`` from the config folder (``True``),
    or refuse a bad top-level value with a ConfigError; else ``False``, and Hydra takes over (its
    own listing of groups, where it needs one, builds its repository once)."""
    text = cli_early.fast_help(argv, config_dir())
    if text is not None:
        print(text)
        help_cache.store_help(argv, text)
        return True
    if cli_early.lists_groups(argv):
        cli_early.build_repository_once()
    cli_early.check_values(argv, config_dir(), validate)
    return False


def main() -> None:
    """Entry point of the ``alrun`` console script."""
    install_signal_handlers()  # Ctrl-C and SIGTERM raise; which one came decides the exit code
    if {"--version", "-V"} & set(sys.argv[1:]):
        print(version())
        return
    import_from_cwd()
    FULL_ERROR[0] = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us, to be printed as one line
    try:
        if not launched_by_alrun():  # a rank alrun launched gets rank 0's overrides, resume's included
            sys.argv = sys.argv[:1] + resume_argv(sys.argv[1:])
        if is_child() and slurm_launched():  # a rank srun started: no files, log or output of its own
            sys.argv += CHILD_OVERRIDES
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        maybe_die("startup", 1)
        if answer_early(sys.argv[1:]):
            return
        choose_openmp_wait()  # before torch loads its OpenMP runtime (alrun.run.threads)
        _task()
    except SystemExit:
        raise
    except BaseException as exc:
        folder_guard.release_pending()  # a run folder locked by a run that never started
        if isinstance(exc, KeyboardInterrupt) or received_signal() is not None:
            exit_interrupted()  # whatever the signal broke on its way (start-up included)
        if isinstance(exc, folder_guard.Refused):
            fail(exc.error)
        if isinstance(exc, HANDLED) or (isinstance(exc, ValueError) and "can be specified" in str(exc)):
            fail(exc)  # the latter: Hydra's own flags clash (e.g. -m with --cfg)
        raise
