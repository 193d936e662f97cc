"""Hydra takes launcher plugins only from classes defined in the ``hydra_plugins`` namespace; alrun's
launchers are written in ``alrun.run`` and named here."""

from alrun.run import slurm, sweep


class SlurmLauncher(slurm.SlurmLauncher):
    """``hydra/launcher=slurm``: see :class:`alrun.run.slurm.SlurmLauncher`."""


class JoblibLauncher(sweep.JoblibLauncher):
    """``hydra/launcher=joblib``: see :class:`alrun.run.sweep.JoblibLauncher`."""
