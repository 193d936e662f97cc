"""Build a config group's object with Hydra's ``instantiate``, turning the user's mistakes into
one-line errors instead of tracebacks.

An exception raised by code the config names (the user's own module that fails to import, a
constructor of torch or of the user's that refuses a value) becomes a :class:`UserCodeError`: the
first line of the real exception and where it was raised; ``HYDRA_FULL_ERROR=1`` shows the whole
traceback. An exception inside alrun's own targets is a bug in alrun and keeps its traceback.
"""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from collections.abc import Callable
from typing import Any

from hydra._internal.utils import _locate
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig

from alrun.errors import ConfigError, UserError

BAD_SETTING = ("unexpected keyword argument", "takes no arguments")  # a constructor's TypeError
OWN_TARGETS = "alrun."  # targets whose unexpected exceptions are alrun's bugs


class UserCodeError(UserError):
    """Code named by the config (a user's module, a third-party constructor) raised an exception."""


def innermost(exc: BaseException) -> BaseException:
    """The exception at the root of ``exc``'s chain of causes (``raise ... from``): what went wrong."""
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__
        if nxt is None or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


def raised_at(exc: BaseException) -> str:
    """`` (in path/to/file.py, line N)`` for the last real source line of ``exc``'s traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if not frames:
        return ""
    path = frames[-1].filename
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:
        pass
    return f" (in {path}, line {frames[-1].lineno})"


def user_code_error(exc: BaseException, what: str) -> UserCodeError:
    """One line for ``exc``: ``<what>: <Type>: <first line> (in file, line N)``."""
    root = innermost(exc)
    first = (str(root).strip().splitlines() or [""])[0]
    return UserCodeError(
        f"{what}: {type(root).__name__}{': ' + first if first else ''}{raised_at(root)}; "
        "set HYDRA_FULL_ERROR=1 for the traceback"
    )


def instantiate_checked(node: DictConfig, group: str) -> Any:
    """``instantiate(node)`` for config group ``group``, with the user's mistakes as one-line errors:
    a :class:`UserError` raised by the constructor reaches the CLI as itself, a setting the target
    does not take (``+model.foo=1``) becomes a :class:`ConfigError` naming it, and a target that
    cannot be imported or whose (non-alrun) constructor raises becomes a :class:`UserCodeError`."""
    target = str(node.get("_target_", ""))
    try:
        built = instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, TypeError) and any(m in str(cause) for m in BAD_SETTING):
            raise ConfigError(f"{group}: {cause}{settings_hint(node)}") from None
        if str(exc).startswith("Error locating target"):
            raise user_code_error(exc, f"{group}: cannot import {target}") from exc
        if cause is not None and not target.startswith(OWN_TARGETS):
            raise user_code_error(cause, f"{group}: {target} raised") from exc
        raise
    if isinstance(built, functools.partial):  # a partial's settings are only bound when called
        try:
            inspect.signature(built.func).bind_partial(*built.args, **built.keywords)
        except TypeError as exc:
            raise ConfigError(f"{group}: {exc}{settings_hint(node)}") from None
    return built


def checked_calls(factory: Callable[..., Any], node: DictConfig, group: str) -> Callable[..., Any]:
    """``factory`` (a partial built from ``node``), whose exceptions become one line naming ``group``
    when its target is not alrun's (see :func:`user_code_error`)."""
    target = str(node.get("_target_", ""))
    if target.startswith(OWN_TARGETS):
        return factory

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:
            raise user_code_error(exc, f"{group}: {target} raised") from exc

    return call


def locate(target: str, what: str) -> Any:
    """The object ``target`` names (Hydra's lookup, without the error line ``get_object`` logs); a
    target that does not import is a :class:`UserCodeError` ``<what>: cannot import <target>: ...``."""
    try:
        return _locate(target)
    except Exception as exc:
        raise user_code_error(exc, f"{what}: cannot import {target}") from exc


def settings_hint(node: DictConfig) -> str:
    """`` (settings of <target>: a, b, c)`` for the target of ``node``."""
    target = get_object(node._target_)
    names = [n for n in inspect.signature(target).parameters if n not in ("self", "args", "kwargs")]
    if not names:
        return f" ({node._target_} takes no settings)"
    return f" (settings of {node._target_}: {', '.join(names)})"
