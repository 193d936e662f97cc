"""A run and its folder: building the experiment from a config, records, checkpoints, failure
safety and the terminal display.

The package is also callable: ``alrun.run(["strategy=entropy"], run_dir=...)`` runs an experiment
from Python (:func:`alrun.api.run`, which imports the heavy stack only when called).
"""

from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    """``alrun.run`` is both this package and :func:`alrun.api.run`."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        from alrun.api import run

        return run(*args, **kwargs)  # type: ignore[arg-type]


sys.modules[__name__].__class__ = _CallableModule
