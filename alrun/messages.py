"""How a stopped command tells the user why: one line of plain text, and the exit code.

A user error (:class:`~alrun.errors.UserError`), a failed run and an I/O error are printed as one line
naming the bad key, value or file; Lightning's refusals and Hydra's missing options are reworded the
same way. Anything else is a bug in alrun, and its traceback is shown. ``HYDRA_FULL_ERROR=1`` adds the
traceback to the one-line errors too.
"""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

from hydra.errors import HydraException, MissingConfigException

from alrun.config.checks import unknown_key
from alrun.errors import ConfigError, RunFailed, UserError

FULL_ERROR: list[bool] = [False]  # the user set HYDRA_FULL_ERROR=1: tracebacks with the one-line errors

KNOWN_ERRORS = (UserError, RunFailed, OSError)


def known_error(exc: BaseException | None) -> BaseException | None:
    """``exc`` if it is a user error, a failed run or an I/O error, else the one it wraps (Hydra's
    instantiate wraps them); ``None`` for anything else (a bug: its traceback is shown)."""
    while exc is not None and not isinstance(exc, KNOWN_ERRORS):
        if type(exc).__name__ == "MisconfigurationException":  # Lightning refused the trainer's settings
            hint = (
                " (fit_mode=lightning optimizes automatically)" if "manual optimization" in str(exc) else ""
            )
            return ConfigError(f"trainer: {' '.join(str(exc).split())}{hint}")
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
        if "." not in key:
            return unknown_key(key)
        return f"unknown config key {key!r} (see `alrun --cfg job` for the keys; use +{key}=... to add one)"
    return " ".join(text.split()) or type(exc).__name__


def fail(exc: BaseException, original: BaseException | None = None) -> NoReturn:
    """Print ``exc`` as one line of plain text; exit 1 for a failed run, 2 for bad input or an
    unwritable folder. With ``HYDRA_FULL_ERROR=1`` the traceback of ``original`` (or ``exc``) comes first."""
    if FULL_ERROR[0]:
        traceback.print_exception(original or exc)
    if isinstance(exc, RunFailed):
        print(f"alrun: run failed: {exc} (status and rows kept in the run folder)", file=sys.stderr)
        sys.exit(1)
    if isinstance(exc, OSError) and not isinstance(
        exc, HydraException
    ):  # Hydra's missing-config is an OSError
        print(
            f"alrun: error: cannot write {exc.filename or 'the run folder'}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        sys.exit(2)
    print(f"alrun: error: {describe(exc)}", file=sys.stderr)
    sys.exit(2)
