"""The ``alrun`` console script: Ctrl-C and SIGTERM are handled from its first instant.

The handlers are installed before the command's modules are imported, so an interrupt during
start-up ends it cleanly (exit 130, or 143 for SIGTERM) instead of with a traceback.
"""

from __future__ import annotations

import sys

from alrun.help_cache import cached_help
from alrun.run.safety import install_signal_handlers, interrupt_exit_code, interrupt_name, received_signal


def main() -> None:
    """Entry point of the ``alrun`` console script (and of ``python -m alrun``)."""
    text = cached_help(sys.argv[1:])
    if text is not None:  # plain `alrun --help`, answered before Hydra is imported
        print(text)
        return
    install_signal_handlers()
    try:
        from alrun.cli import main as cli_main
    except BaseException:
        if received_signal() is None:
            raise
        name = interrupt_name()
        print("alrun: interrupted" + (f" ({name})" if name != "SIGINT" else ""), file=sys.stderr)
        sys.exit(interrupt_exit_code())
    cli_main()
