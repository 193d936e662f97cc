"""The ``alrun`` console script: Ctrl-C and SIGTERM are handled from its first instant.

The handlers are installed before the command's modules are imported, so an interrupt during
start-up ends it cleanly (exit 130, or 143 for SIGTERM) instead of with a traceback. Before that,
plain ``alrun --help`` is answered from its cache and a config error that the command line shows by
itself (``strategy=entropi``, ``budget=-1``) is refused, both without importing Hydra.
"""

from __future__ import annotations

import os
import sys

from alrun.config.argv import check_argv, complete_option
from alrun.errors import ConfigError
from alrun.help_cache import cached_help, config_dir
from alrun.launched import launched_by_alrun
from alrun.run.safety import exit_interrupted, install_signal_handlers, received_signal


def main() -> None:
    """Entry point of the ``alrun`` console script (and of ``python -m alrun``)."""
    argv, folder = sys.argv[1:], config_dir()
    text = cached_help(argv)
    if text is None:
        text = complete_option(argv, os.environ.get("COMP_LINE"), folder)
    if text is not None:  # plain `alrun --help`, or completing `strategy=ma`: answered without Hydra
        print(text)
        return
    refuse_early(argv, folder)
    install_signal_handlers()
    try:
        from alrun.cli import main as cli_main
    except BaseException:
        if received_signal() is None:
            raise
        exit_interrupted()
    cli_main()


def refuse_early(argv: list[str], folder: str) -> None:
    """Exit 2 with one line for a config error the command line shows by itself (no Hydra needed)."""
    if launched_by_alrun():  # rank 0 checked this command line (srun's tasks each check their own)
        return
    try:
        check_argv(argv, folder)
    except ConfigError as exc:
        print(f"alrun: error: {exc}", file=sys.stderr)
        sys.exit(2)
