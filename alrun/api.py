"""Run an experiment from Python: ``alrun.run(["strategy=entropy", "budget=100"])``.

The overrides are the command line's; Hydra composes the same configs and runs the job as the
``alrun`` command does, so the run folder holds the same files (``.hydra/`` included) and
``alrun-report`` reads it like any other. Errors are raised as exceptions (a
:class:`~alrun.errors.UserError` for bad input), not printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from omegaconf import DictConfig


@dataclass
class RunResult:
    """A finished run.

    Attributes:
        rows: ``metrics.csv``, one row per round.
        queries: ``queries.csv``, one row per labelled item.
        run_dir: the run folder.
        info: ``run.json`` (status, seed, versions, ...).
    """

    rows: pd.DataFrame
    queries: pd.DataFrame
    run_dir: Path
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        folder, rounds = str(self.run_dir), len(self.rows)
        return f"RunResult(run_dir={folder!r}, rounds={rounds}, final_acc={self.final_acc:.4f})"

    @property
    def final_acc(self) -> float:
        """Test accuracy of the last round's model."""
        return float(self.rows["test/acc"].iloc[-1])

    @classmethod
    def read(cls, run_dir: str | Path) -> RunResult:
        """The result of the run in ``run_dir``."""
        import pandas as pd

        folder = Path(run_dir)
        info = json.loads((folder / "run.json").read_text())
        rows, queries = pd.read_csv(folder / "metrics.csv"), pd.read_csv(folder / "queries.csv")
        return cls(rows=rows, queries=queries, run_dir=folder, info=info)


def run(
    overrides: Sequence[str] = (), run_dir: str | Path | None = None, config_dir: str | Path | None = None
) -> RunResult:
    """Compose the config from ``overrides`` and run it, as ``alrun OVERRIDES`` would.

    Args:
        overrides: command-line overrides, e.g. ``["strategy=entropy", "budget=100", "seed=3"]``.
        run_dir: the run folder (default: ``outputs/<date>/<time>`` under the working directory).
        config_dir: a folder of your own config groups, as ``alrun --config-dir``.

    Raises:
        UserError: bad input (an unknown key or option, a value out of range, bad data).
        RunFailed: the run stopped (a non-finite training loss).
    """
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    from alrun import cli  # registers alrun's config resolvers
    from alrun.errors import ConfigError
    from alrun.run import guard

    args = cli.resume_argv(list(overrides))
    if run_dir is not None:
        args.append(f"hydra.run.dir={Path(run_dir).resolve()}")
    search_path = _search_path(cli.config_dir(), config_dir)
    version.setbase("1.3")  # as the CLI's @hydra.main: no chdir into the run folder
    GlobalHydra.instance().clear()
    try:
        hydra = Hydra.create_main_hydra2(task_name="cli", config_search_path=search_path)
        folder = hydra.run(config_name="config", task_function=_job, overrides=args).return_value
    except (ConfigCompositionException, MissingConfigException, OverrideParseException) as exc:
        raise ConfigError(cli.describe(exc)) from exc
    except guard.Refused as exc:  # the run folder is another process's, or cannot be made
        raise exc.error from None
    finally:
        guard.release_pending()
        GlobalHydra.instance().clear()
    return RunResult.read(folder)


def _search_path(main: str, extra: str | Path | None) -> Any:
    """The CLI's config search path, with ``extra`` first (as ``--config-dir`` puts it)."""
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    from alrun.errors import ConfigError

    search_path = create_config_search_path(main)
    if extra is not None:
        folder = Path(extra).resolve()
        if not folder.is_dir():
            raise ConfigError(f"config_dir={extra}: no such folder")
        search_path.prepend("command-line", f"file://{folder}", anchor=SearchPathQuery(provider="schema"))
    return search_path


def _job(cfg: DictConfig) -> Path:
    """The task Hydra runs: check the config, run the experiment, return its folder."""
    from hydra.core.hydra_config import HydraConfig

    from alrun.cli import check_config
    from alrun.run import guard
    from alrun.run.experiment import run_experiment

    folder = Path(HydraConfig.get().runtime.output_dir)
    lock = guard.take(folder) or guard.RunFolderGuard.open(folder, record=False)
    try:  # as the CLI: the folder locked, and left as it was when the run is refused
        check_config(cfg)
        run_experiment(cfg, folder, started=lock.commit)
    finally:
        lock.release()
    return folder
