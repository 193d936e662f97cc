"""Query strategies: each class is the ``_target_`` of one ``configs/strategy/*.yaml``."""

from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition, Selection
from alrun.strategies.uncertainty import Entropy, LeastConfidence, Margin, Random

__all__ = [
    "Acquisition",
    "Entropy",
    "LeastConfidence",
    "Margin",
    "QueryContext",
    "Random",
    "ScoreAcquisition",
    "Selection",
]
