"""What the ``alrun`` command answers before Hydra starts: ``--help``, and a bad top-level value.

**Help.** Hydra's help lists every config group and option through its config loader, which builds a new
copy of its config repository for each one it lists (about 80 with the nested ``strategy@strategy.base``
groups: most of a second). ``alrun --help`` lists the groups and options from the config folder
instead and keeps the rest of Hydra's help: its template (``hydra.help`` in
``configs/hydra/default.yaml``) and the config composed from the command line's overrides. When the
command names other config folders (``--config-dir``, ``--config-path``, ``--config-name``,
``hydra.searchpath=...``), which may add groups and options, the help is Hydra's own; then, as for tab
completion, the repository is built once per command instead of once per group.

**Config errors.** Hydra composes a run's config twice before the task starts (once only to find
the run mode) and writes the run folder's ``.hydra`` files. :func:`check_values` composes it once,
as Hydra's run would (the same loader, the same errors), and applies alrun's top-level checks, so a
bad value is refused at once and before anything is written; the run then starts as usual.
"""

from __future__ import annotations

import copy
import functools
import string
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from alrun.config.argv import group_options

HELP_FLAGS = ("--help", "-h")
LISTING_FLAGS = (*HELP_FLAGS, "--hydra-help", "--shell-completion", "-sc")


def app_config_groups(config_dir: str | Path) -> str:
    """The ``$APP_CONFIG_GROUPS`` text of Hydra's help template for the groups in ``config_dir``:
    one ``group: option, option`` line per folder holding ``.yaml`` files, nested groups as
    ``group/sub``, Hydra's own ``hydra/`` groups left out (the same text Hydra's listing gives)."""
    root = Path(config_dir)
    groups = sorted((group, options) for group, options in _groups(root, root) if options)
    return "".join(f"{group}: {', '.join(options)}\n" for group, options in groups)


def _groups(root: Path, folder: Path) -> Iterator[tuple[str, list[str]]]:
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"):
        name = sub.relative_to(root).as_posix()
        if _is_hydra_group(name):
            continue
        yield name, group_options(sub)
        yield from _groups(root, sub)


class _Fields(Mapping[str, str]):
    """The template's ``$NAME`` fields, each computed only if the template uses it."""

    def __init__(self, **makers: Any) -> None:
        self.makers = makers

    def __getitem__(self, key: str) -> str:
        return str(self.makers[key]())

    def __iter__(self) -> Iterator[str]:
        return iter(self.makers)

    def __len__(self) -> int:
        return len(self.makers)


def check_values(argv: list[str], config_dir: str, validate: Callable[[Any], None]) -> None:
    """Compose a single run's config and apply ``validate``: its
    :class:`~alrun.errors.ConfigError` and a composition error propagate (the errors Hydra's own
    start-up would raise). Sweeps, flags (help, ``--cfg``, other config folders) and anything else
    are left to Hydra, which composes and validates again.
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    from alrun.errors import ConfigError

    if any(a.startswith("-") for a in argv) or _names_other_folders(argv):
        return
    if any(o.is_sweep_override() for o in OverridesParser.create().parse_overrides(argv)):
        return
    with initialize_config_dir(config_dir=config_dir, version_base="1.3", job_name="cli"):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        cfg = hydra.compose_config("config", argv, RunMode.RUN, from_shell=True)
        if cfg.hydra.mode == RunMode.MULTIRUN:  # a config that asks for a sweep itself
            return
        try:
            validate(cfg)
        except ConfigError:
            raise
        except Exception:  # e.g. an interpolation only a started run can resolve: Hydra's turn
            return


def _names_other_folders(overrides: list[str]) -> bool:
    return any(o.lstrip("+~").startswith("hydra.searchpath") for o in overrides)


def fast_help(argv: list[str], config_dir: str) -> str | None:
    """The ``alrun --help`` text for the command line ``argv`` (without the program name), or
    ``None`` when it is not a help request or Hydra's own help must answer it (other config folders)."""
    from hydra._internal.utils import get_args_parser

    if not set(HELP_FLAGS) & set(argv):
        return None
    args = get_args_parser().parse_args(argv)
    if not args.help or args.config_dir or args.config_path or args.config_name:
        return None
    if _names_other_folders(args.overrides):
        return None
    return _render(args.overrides, args.resolve, config_dir)


def _render(overrides: list[str], resolve: bool, config_dir: str) -> str:
    """Hydra's help template filled in as Hydra's ``app_help`` fills it, the groups from the folder."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, flag_override

    with initialize_config_dir(config_dir=config_dir, version_base="1.3", job_name="cli"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        template = string.Template(str(cfg.hydra.help.template))
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        job = copy.deepcopy(cfg)  # the composed config without Hydra's node
        with flag_override(job, ["struct", "readonly"], [False, False]):
            del job["hydra"]
        fields = _Fields(
            APP_CONFIG_GROUPS=lambda: app_config_groups(config_dir),
            CONFIG=lambda: OmegaConf.to_yaml(job, resolve=resolve),
            FLAGS_HELP=lambda: Hydra.format_args_help(get_args_parser()),
            HYDRA_CONFIG_GROUPS=lambda: hydra.format_config_groups(_is_hydra_group),
        )
        return template.substitute(fields)


def _is_hydra_group(group: str) -> bool:
    return group == "hydra" or group.startswith("hydra/")


def build_repository_once() -> None:
    """Make Hydra's config loader build its repository once per command for listing groups and
    options (Hydra's own help, tab completion), not once for each group it lists. The listing only
    reads the repository, so the answers are the same."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    if getattr(ConfigLoaderImpl.get_group_options, "_alrun_cached", False):
        return

    @functools.wraps(ConfigLoaderImpl.get_group_options)
    def get_group_options(
        self: ConfigLoaderImpl,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        repos = self.__dict__.setdefault("_alrun_repositories", {})
        key = (config_name, tuple(overrides or ()))
        if key not in repos:
            repos[key] = self._parse_overrides_and_create_caching_repo(config_name, list(overrides or ()))[1]
        return list(repos[key].get_group_options(group_name, results_filter))

    get_group_options._alrun_cached = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.get_group_options = get_group_options  # type: ignore[method-assign]


def lists_groups(argv: list[str]) -> bool:
    """Whether the command asks Hydra to list config groups (help, tab completion)."""
    return any(a in LISTING_FLAGS or a.startswith("--shell-completion") for a in argv)
