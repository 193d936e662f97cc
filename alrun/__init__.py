"""alrun: a command-line runner for pool-based active learning experiments.

From Python: ``alrun.run(overrides, run_dir=...)`` runs an experiment (see :func:`alrun.api.run`),
``alrun.report.load(paths)`` reads run folders into tidy tables. ``import alrun`` itself is cheap:
both import what they need when called.
"""

__version__ = "0.1.0"

__all__ = ["RunResult", "__version__", "report", "run"]


def __getattr__(name: str) -> object:
    """``alrun.run``, ``alrun.report`` (sub-packages) and ``alrun.RunResult``, imported on first use."""
    if name in ("run", "report"):
        import importlib

        return importlib.import_module(f"alrun.{name}")
    if name == "RunResult":
        from alrun.api import RunResult

        return RunResult
    raise AttributeError(f"module 'alrun' has no attribute {name!r}")
