"""Query strategies: each class is the ``_target_`` of one ``configs/strategy/*.yaml``.

A strategy's module is imported when the strategy is first used (``alrun.strategies.Margin``), so a
run imports only the strategy it runs, not scikit-learn's clustering and neighbour searches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition, Selection

if TYPE_CHECKING:
    from alrun.strategies.adversarial import Dfal
    from alrun.strategies.batchbald import BatchBald
    from alrun.strategies.bayesian import Bald, McEntropy, MeanStd, VarRatio
    from alrun.strategies.committee import KlToMean, VoteEntropy
    from alrun.strategies.cover import ProbCover
    from alrun.strategies.diversity import Badge, Coreset, KMeansSampling, TypiClust
    from alrun.strategies.epig import Epig
    from alrun.strategies.hybrid import ClusterMargin
    from alrun.strategies.stochastic import StochasticBatch
    from alrun.strategies.uncertainty import Entropy, LeastConfidence, Margin, Random

MODULES: dict[str, str] = {
    "Dfal": "adversarial",
    "BatchBald": "batchbald",
    **dict.fromkeys(["Bald", "McEntropy", "MeanStd", "VarRatio"], "bayesian"),
    **dict.fromkeys(["KlToMean", "VoteEntropy"], "committee"),
    "ProbCover": "cover",
    **dict.fromkeys(["Badge", "Coreset", "KMeansSampling", "TypiClust"], "diversity"),
    "Epig": "epig",
    "ClusterMargin": "hybrid",
    "StochasticBatch": "stochastic",
    **dict.fromkeys(["Entropy", "LeastConfidence", "Margin", "Random"], "uncertainty"),
}


def __getattr__(name: str) -> Any:
    """A strategy class, its module imported on first use."""
    if name not in MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{MODULES[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Acquisition",
    "Badge",
    "Bald",
    "BatchBald",
    "ClusterMargin",
    "Coreset",
    "Dfal",
    "Entropy",
    "Epig",
    "KMeansSampling",
    "KlToMean",
    "LeastConfidence",
    "Margin",
    "McEntropy",
    "MeanStd",
    "ProbCover",
    "QueryContext",
    "Random",
    "ScoreAcquisition",
    "Selection",
    "StochasticBatch",
    "TypiClust",
    "VarRatio",
    "VoteEntropy",
]
