"""``alrun-report``: read run folders into tidy tables, summarise them over seeds, plot the learning
curves and check a benchmark against its anchor.

Modules: ``runs`` (find and load run folders), ``stats`` (AUBC, labels to a target, paired
confidence intervals), ``summary`` (per-group figures and their text), ``plot`` (``curves.png``),
``gate`` (anchor files) and ``cli`` (the command). Nothing here imports Hydra's app or torch.
"""

# Allowed drop of each figure below a new anchor: about 3 standard errors of a 5-seed mean on the
# digits benchmark (std over seeds: AUBC ~0.02, final accuracy ~0.01). Here so that the command can
# show it in --help without importing pandas.
DEFAULT_TOLERANCE: dict[str, float] = {"aubc": 0.03, "final_acc": 0.02}
