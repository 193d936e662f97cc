"""``hydra/launcher=slurm``'s target; the code and its documentation are in :mod:`alrun.run.slurm`."""

from alrun.run import slurm


class SlurmLauncher(slurm.SlurmLauncher):
    """The submitit Slurm launcher with alrun's checks (see :mod:`alrun.run.slurm`)."""
