"""Query strategies: each class is the ``_target_`` of one ``configs/strategy/*.yaml``."""

from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition, Selection
from alrun.strategies.batchbald import BatchBald
from alrun.strategies.bayesian import Bald, McEntropy, MeanStd, VarRatio
from alrun.strategies.stochastic import StochasticBatch
from alrun.strategies.uncertainty import Entropy, LeastConfidence, Margin, Random

__all__ = [
    "Acquisition",
    "Bald",
    "BatchBald",
    "Entropy",
    "LeastConfidence",
    "Margin",
    "McEntropy",
    "MeanStd",
    "QueryContext",
    "Random",
    "ScoreAcquisition",
    "Selection",
    "StochasticBatch",
    "VarRatio",
]
