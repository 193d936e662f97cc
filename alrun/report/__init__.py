"""``alrun-report``: read run folders into tidy tables, summarise them over seeds, plot the learning
curves and check a benchmark against its anchor.

Modules: ``runs`` (find and load run folders), ``stats`` (AUBC, labels to a target, paired
confidence intervals), ``summary`` (per-group figures and their text), ``plot`` (``curves.png``),
``gate`` (anchor files) and ``cli`` (the command). Nothing here imports Hydra's app or torch.

From Python, :func:`load` returns the two tidy tables that ``runs.csv`` and ``rounds.csv`` hold.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (this package starts fast)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from alrun.report.runs import Runs

# Allowed drop of each figure below a new anchor: about 3 standard errors of a 5-seed mean on the
# digits benchmark (std over seeds: AUBC ~0.02, final accuracy ~0.01). Here so that the command can
# show it in --help without importing pandas.
DEFAULT_TOLERANCE: dict[str, float] = {"aubc": 0.03, "final_acc": 0.02}


def load(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], targets: Sequence[float] = (0.9,)
) -> Runs:
    """Read run folders (or folders above them, searched recursively) into tidy tables.

    Args:
        paths: run folders, sweep folders, or any folders above them.
        targets: accuracies for the ``labels_to_<t>`` columns of the per-run table.

    Returns:
        ``.runs``: one row per run (identity, seed, status, problem, ``final_acc``, ``aubc``,
        ``labels_to_<t>``); ``.rounds``: one row per run and round (identity, seed and every
        column of ``metrics.csv``).

    Raises:
        ReportError: a path is not a folder, or holds no runs.
    """
    from pathlib import Path

    from alrun.report.runs import Runs, load_runs
    from alrun.report.summary import per_run, run_figures

    given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    loaded = load_runs([Path(p).resolve() for p in given])
    figures = run_figures(loaded.complete, loaded.runs.set_index("path")["budget"], list(targets))
    return Runs(runs=per_run(loaded.runs, figures), rounds=loaded.rounds)
