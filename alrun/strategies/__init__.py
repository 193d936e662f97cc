"""Query strategies: each class is the ``_target_`` of one ``configs/strategy/*.yaml``."""

from alrun.strategies.adversarial import Dfal
from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition, Selection
from alrun.strategies.batchbald import BatchBald
from alrun.strategies.bayesian import Bald, McEntropy, MeanStd, VarRatio
from alrun.strategies.committee import KlToMean, VoteEntropy
from alrun.strategies.cover import ProbCover
from alrun.strategies.diversity import Badge, Coreset, KMeansSampling, TypiClust
from alrun.strategies.epig import Epig
from alrun.strategies.hybrid import ClusterMargin
from alrun.strategies.stochastic import StochasticBatch
from alrun.strategies.uncertainty import Entropy, LeastConfidence, Margin, Random

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
