"""Checks on the composed config that run before anything heavy is imported.

Hydra already refuses unknown keys (the config is in struct mode) and unknown group options;
this module checks the values of the top-level keys, so a typo or an impossible setting stops
the run with one line that names the key, the value and what is allowed. :func:`check_int` and
:func:`check_number` are the one wording of those lines, used by the strategies' settings too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from alrun.errors import ConfigError

CHOICES: dict[str, tuple[str, ...]] = {
    "initial": ("random", "balanced"),
    "reset": ("snapshot", "scratch", "warm"),
    "fit_mode": ("auto", "fast", "lightning"),
}
# key -> smallest allowed value
INTEGERS: dict[str, int] = {
    "seed": 0,
    "budget": 0,
    "query_size": 1,
    "initial_size": 1,
    "val_size": 0,
    "batch_size": 1,
    "eval_batch_size": 1,
    "eval_mc_samples": 0,
}
BOOLEANS: tuple[str, ...] = ("progress",)


GROUPS: tuple[str, ...] = (
    "dataset",
    "model",
    "optimizer",
    "strategy",
    "trainer",
    "callbacks",
    "scheduler",
    "logger",
    "stopping",
)
# every top-level key of configs/config.yaml (tests check the two agree); `hydra` is Hydra's own
RECIPE_KEYS: tuple[str, ...] = ("epoch_samples", "weight_decay_groups")  # checked by alrun.training.preflight
TOP_LEVEL_KEYS: frozenset[str] = frozenset(
    [*INTEGERS, *CHOICES, *BOOLEANS, *GROUPS, *RECIPE_KEYS, "pool_subsample", "threads", "resume"]
)


def unknown_key(key: str) -> str:
    """The one-line message for a top-level key alrun does not know."""
    return f"unknown config key {key!r} (top-level keys: {', '.join(sorted(TOP_LEVEL_KEYS))})"


# keys that never change a run's results (resume checks, sweep folder names and reports ignore them)
NON_RESULT_KEYS: frozenset[str] = frozenset({"progress", "resume"})


def show(value: Any) -> str:
    """A config value as the user would type it in messages: ``null``, ``true``, ``'abc'``, ``[64]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def check_bool(key: str, value: Any) -> bool:
    """``value`` if it is a boolean (``true``/``false``, never ``'no'`` or ``1``), else a ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={show(value)} is not allowed (choose from: true, false)")
    return value


def check_int(key: str, value: Any, minimum: int) -> int:
    """``value`` as an integer ``>= minimum``, or a :class:`ConfigError` naming ``key`` and the value.

    Args:
        key: the key as the user types it (``budget``, ``strategy.mc_samples``).
        value: the configured value.
        minimum: the smallest allowed value.
    """
    allowed = f"(allowed: integers >= {minimum})"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}={show(value)} is not an integer {allowed}")
    if value < minimum:
        raise ConfigError(f"{key}={value} is out of range {allowed}")
    return value


def check_number(key: str, value: Any, low: float = -math.inf, strict: bool = False) -> float:
    """``value`` as a finite float ``>= low`` (``> low`` when ``strict``), or a :class:`ConfigError`.

    Args:
        key: the key as the user types it (``strategy.beta``).
        value: the configured value.
        low: the lower bound (none by default: any finite number).
        strict: exclude ``low`` itself.
    """
    bound = f"numbers {'>' if strict else '>='} {low:g}" if low > -math.inf else "finite numbers"
    allowed = f"(allowed: {bound})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}={show(value)} is not a number {allowed}")
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise ConfigError(f"{key}={value} is out of range {allowed}")
    return float(value)


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first top-level value that is not allowed.

    Args:
        cfg: the composed run config (a DictConfig or a plain mapping).
    """
    for key in cfg:  # `+typo=1` would otherwise run the defaults with an unused key
        if key not in TOP_LEVEL_KEYS and key != "hydra":
            raise ConfigError(unknown_key(str(key)))
    for key, minimum in INTEGERS.items():
        check_int(key, cfg[key], minimum)
    for key in CHOICES:
        check_choice(key, cfg[key])
    for key in BOOLEANS:
        check_bool(key, cfg[key])
    check_threads(cfg.get("threads"))
    if cfg.get("resume") is not None and not isinstance(cfg["resume"], str):
        raise ConfigError(f"resume={cfg['resume']!r} is not allowed (a run folder path, or null)")
    check_pool_subsample(cfg["pool_subsample"], cfg["query_size"])


def check_choice(key: str, value: Any) -> None:
    """``value`` is one of the choices of the top-level key ``key`` (:data:`CHOICES`)."""
    if value not in CHOICES[key]:
        raise ConfigError(f"{key}={value!r} is not allowed (choose from: {', '.join(CHOICES[key])})")


MAX_THREADS = 1024


def check_threads(value: Any) -> None:
    """``threads`` is ``auto``, null (torch's default) or an integer from 1 to :data:`MAX_THREADS`."""
    allowed = f"(allowed: auto, null or integers from 1 to {MAX_THREADS})"
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"threads={show(value)} is not allowed {allowed}")
    if not 1 <= value <= MAX_THREADS:
        raise ConfigError(f"threads={value} is out of range {allowed}")


def check_pool_subsample(value: Any, query_size: int) -> None:
    """``pool_subsample`` is null, 0 (score the whole pool) or at least ``query_size``."""
    allowed = f"null, 0 or integers >= query_size ({query_size})"
    if value is None or (value == 0 and not isinstance(value, bool)):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < query_size:
        raise ConfigError(f"pool_subsample={value!r} is not allowed (allowed: {allowed})")


def check_pool_size(initial_size: int, budget: int, val_size: int, pool_size: int) -> None:
    """Refuse a plan that asks for more labels than the training pool holds.

    Args:
        initial_size: labels in the initial set.
        budget: labels acquired after the initial set.
        val_size: validation labels, taken out of the same data before the training pool is formed.
        pool_size: items available for training labels.
    """
    if initial_size + budget > pool_size:
        raise ConfigError(
            f"initial_size + budget = {initial_size + budget} is larger than the training pool "
            f"({pool_size} items{' after val_size=' + str(val_size) if val_size else ''}); "
            f"allowed: initial_size + budget <= {pool_size}"
        )
