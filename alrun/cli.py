"""The ``alrun`` command: Hydra composes the config, this file stays thin.

Bad input (an unknown option or key, a value out of range, a missing data file) ends the run with
one line on stderr naming the problem, and exit code 2; Ctrl-C exits with 130.
In a sweep (``-m``) a failing job writes ``"status": "failed"`` and the reason into its ``run.json``
and the other jobs still run; then the sweep exits as that job would have (2 for bad input).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from alrun.config import validate
from alrun.errors import UserError
from alrun.records import record_failure

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


def config_dir() -> str:
    """The configs folder: the checkout's top-level ``configs/`` (editable install), else the
    copy a wheel carries inside the package."""
    here = Path(__file__).resolve().parent
    top = here.parent / "configs"
    return str(top if (top / "config.yaml").is_file() else here / "configs")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _task(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        validate(cfg)
        from alrun.app import run_experiment  # heavy imports only once a run really starts

        return run_experiment(cfg, run_dir)
    except Exception as exc:
        error = user_error(exc)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # the job's run.json says it failed; the sweep goes on with the other jobs
            record_failure(run_dir, describe(error or exc), seed=cfg.get("seed"))
            if error is not None:
                raise error from None
            raise
        if error is None:
            raise
        fail(error)


def user_error(exc: BaseException | None) -> UserError | None:
    """``exc`` if it is a :class:`UserError`, else the one it wraps (Hydra's instantiate wraps them)."""
    while exc is not None and not isinstance(exc, UserError):
        exc = exc.__cause__
    return exc


def describe(exc: BaseException) -> str:
    """One line that names the bad key or value and what is allowed."""
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        return f"unknown {group} {name!r} (choose from: {', '.join(sorted(exc.options))})"
    text = str(exc)
    cause = exc.__cause__
    if "Could not override" in text and cause is not None and "not in struct" in str(cause):
        key = text.split("'")[1]
        return f"unknown config key {key!r} (see `alrun --cfg job` for the keys; use +{key}=... to add one)"
    return " ".join(text.split()) or type(exc).__name__


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line and exit with code 2."""
    print(f"alrun: error: {describe(exc)}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Entry point of the ``alrun`` console script."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us, to be printed as one line
    try:
        _task()
    except (UserError, HydraException, OmegaConfBaseException) as exc:
        fail(exc)
    except KeyboardInterrupt:
        print("alrun: interrupted", file=sys.stderr)
        sys.exit(130)
