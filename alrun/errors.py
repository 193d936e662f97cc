"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input (config, data, paths); not a bug in alrun."""


class ConfigError(UserError):
    """A config value is missing, mistyped or out of range."""


class DataError(UserError):
    """A dataset file is missing or malformed."""


class RunFailed(Exception):
    """The run itself failed (for example a non-finite training loss): status ``failed``, exit 1."""


class InvariantError(AssertionError):
    """An internal invariant was violated: a bug in alrun, never the user's doing."""
