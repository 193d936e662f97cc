"""Config errors that the command line shows by itself, refused before Hydra is imported.

Importing Hydra and composing the config take most of a second; a typo in a group option
(``strategy=entropi``) or a top-level value out of range (``budget=-1``) is visible in the
override alone, because a command-line override is applied last and nothing can change it. This
module looks only at plain ``key=value`` overrides whose value is a simple literal (an integer,
``true``/``false``, ``null`` or a bare word) and gives the same one-line message Hydra's path
would. Anything it cannot decide alone — flags, sweeps, ``+``/``~`` overrides, repeated keys,
other config folders or Hydra plugins that may add options, ``resume=`` — is left to Hydra.
Bash completion of a group option (``alrun strategy=ma<TAB>``) is read from the folder the same way.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alrun.config import checks
from alrun.errors import ConfigError

_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# Hydra plugins known to add no options to alrun's groups (launchers register hydra/launcher only)
KNOWN_PLUGINS = frozenset({"alrun_launcher", "hydra_joblib_launcher", "hydra_submitit_launcher"})


def _check_threads(_key: str, value: Any) -> None:
    checks.check_threads(value)


def _integer_check(minimum: int) -> Callable[[str, Any], Any]:
    return lambda key, value: checks.check_int(key, value, minimum)


SCALAR_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **{key: _integer_check(minimum) for key, minimum in checks.INTEGERS.items()},
    **{key: checks.check_bool for key in checks.BOOLEANS},
    **{key: checks.check_choice for key in checks.CHOICES},
    "threads": _check_threads,
}


def literal(text: str) -> tuple[bool, Any]:
    """``(True, value)`` for a literal that Hydra's override grammar reads one way only, else
    ``(False, None)``."""
    lower = text.lower()
    if _INT.fullmatch(text):
        return True, int(text)
    if lower in ("true", "false"):
        return True, lower == "true"
    if lower == "null":
        return True, None
    if _WORD.fullmatch(text) and lower not in ("nan", "inf"):
        return True, text
    return False, None


def check_argv(argv: list[str], config_dir: str | Path) -> None:
    """Raise :class:`ConfigError` for the first override in ``argv`` that is wrong by itself."""
    pairs = plain_overrides(argv)
    if pairs is None or not plugins_known():
        return
    for key, value in pairs:
        check_override(key, value, Path(config_dir))


def plain_overrides(argv: list[str]) -> list[tuple[str, str]] | None:
    """The top-level ``(key, value)`` pairs of ``argv``, or ``None`` when an argument is not a plain
    override (a flag, ``+``/``~``, a group package), repeats a key, resumes or adds config folders."""
    pairs = [arg.partition("=")[::2] for arg in argv]
    keys = [key for key, _ in pairs]
    if any(not _KEY.fullmatch(key) or "=" not in arg for (key, _), arg in zip(pairs, argv, strict=True)):
        return None
    if len(set(keys)) != len(keys) or "resume" in keys or any(k.startswith("hydra.searchpath") for k in keys):
        return None
    return [(key, value) for key, value in pairs if "." not in key]  # nested keys: Hydra's to judge


def plugins_known() -> bool:
    """Whether every installed Hydra plugin is one known to add no config options."""
    spec = importlib.util.find_spec("hydra_plugins")
    if spec is None or spec.submodule_search_locations is None:
        return True
    names = {p.name for folder in spec.submodule_search_locations for p in _entries(folder)}
    return names <= KNOWN_PLUGINS


def _entries(folder: str) -> list[Path]:
    path = Path(folder)
    if not path.is_dir():
        return []
    return [p for p in path.iterdir() if not p.name.startswith(("_", "."))]


def group_options(group: Path) -> list[str]:
    """The options of the config group in folder ``group``: its ``.yaml`` files' names, sorted."""
    return sorted(
        p.name[: -len(".yaml")] for p in group.iterdir() if p.name.endswith(".yaml") and p.is_file()
    )


def check_override(key: str, text: str, config_dir: Path) -> None:
    """Refuse ``key=text`` when it names a missing group option or a top-level value not allowed."""
    known, value = literal(text)
    if not known:
        return
    group = config_dir / key
    if group.is_dir() and isinstance(value, str):
        options = group_options(group)
        if value not in options:
            raise ConfigError(f"unknown {key} {value!r} (choose from: {', '.join(options)})")
    elif key in SCALAR_CHECKS:
        SCALAR_CHECKS[key](key, value)


COMPLETION_QUERY = (["-sc", "query=bash"], ["--shell-completion", "query=bash"])
_PARTIAL_OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_-]*)")


def complete_option(argv: list[str], line: str | None, config_dir: str | Path) -> str | None:
    """Bash's completion of a group option (``alrun strategy=ma`` -> ``strategy=margin``) read from
    the config folder, as Hydra's completion gives it; ``None`` when Hydra must answer (other words
    being completed, other config folders or plugins, flags before the word)."""
    words = (line or "").split()
    if argv not in COMPLETION_QUERY or len(words) < 2 or (line or "").endswith(" "):
        return None
    match = _PARTIAL_OPTION.fullmatch(words[-1])
    group = Path(config_dir) / match.group(1) if match else None
    if Path(words[0]).name != "alrun" or group is None or not group.is_dir():
        return None
    if plain_overrides(words[1:-1]) is None or not plugins_known():
        return None
    options = (f"{group.name}={option}" for option in group_options(group))
    return " ".join(o for o in options if o.startswith(words[-1]))
