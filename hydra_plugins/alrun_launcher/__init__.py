"""Hydra takes launcher plugins only from classes defined in the ``hydra_plugins`` namespace; alrun's
launcher is written in ``alrun.run.sweep`` and named here."""

from alrun.run import sweep


class JoblibLauncher(sweep.JoblibLauncher):
    """``hydra/launcher=joblib``: see :class:`alrun.run.sweep.JoblibLauncher`."""
