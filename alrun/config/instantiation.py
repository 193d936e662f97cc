"""Build a config group's object with Hydra's ``instantiate``, turning the user's mistakes into
one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig

from alrun.errors import ConfigError, UserError

BAD_SETTING = ("unexpected keyword argument", "takes no arguments")  # a constructor's TypeError


def instantiate_checked(node: DictConfig, group: str) -> Any:
    """``instantiate(node)`` for config group ``group``, with the user's mistakes as one-line errors:
    a :class:`UserError` raised by the constructor reaches the CLI as itself, and a setting the
    target does not take (``+model.foo=1``) becomes a :class:`ConfigError` naming it."""
    try:
        built = instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, TypeError) and any(m in str(cause) for m in BAD_SETTING):
            raise ConfigError(f"{group}: {cause}{settings_hint(node)}") from None
        raise
    if isinstance(built, functools.partial):  # a partial's settings are only bound when called
        try:
            inspect.signature(built.func).bind_partial(*built.args, **built.keywords)
        except TypeError as exc:
            raise ConfigError(f"{group}: {exc}{settings_hint(node)}") from None
    return built


def settings_hint(node: DictConfig) -> str:
    """`` (settings of <target>: a, b, c)`` for the target of ``node``."""
    target = get_object(node._target_)
    names = [n for n in inspect.signature(target).parameters if n not in ("self", "args", "kwargs")]
    if not names:
        return f" ({node._target_} takes no settings)"
    return f" (settings of {node._target_}: {', '.join(names)})"
