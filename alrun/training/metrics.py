"""Metrics of a whole split beyond accuracy, accumulated chunk by chunk with torchmetrics.

* ``balanced_acc``: the mean over the classes present in the split of each class's recall
  (scikit-learn's ``balanced_accuracy_score``; torchmetrics' macro recall would also average, as 0,
  classes that are only predicted);
* ``macro_f1``: the mean over the classes that occur (as a label or a prediction) of
  ``2 tp / (2 tp + fp + fn)`` (scikit-learn's ``f1_score(average="macro")``, torchmetrics' macro F1);
* ``ece``: expected calibration error of the top-label confidence in 15 equal-width bins,
  ``sum_b (n_b / N) |acc_b - conf_b|`` (torchmetrics' ``MulticlassCalibrationError``, ``norm="l1"``;
  Guo et al. 2017).

Both scores come from one confusion matrix (``MulticlassConfusionMatrix``), so chunking never changes them.
"""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassCalibrationError, MulticlassConfusionMatrix

ECE_BINS = 15
NAMES: tuple[str, ...] = ("balanced_acc", "macro_f1", "ece")


class SplitMetrics:
    """Balanced accuracy, macro-F1 and ECE of a split, updated one chunk of logits at a time.

    Args:
        n_classes: number of classes.
        device: where the accumulators live (the logits' device).
    """

    def __init__(self, n_classes: int, device: torch.device) -> None:
        self.confusion = MulticlassConfusionMatrix(n_classes).to(device)
        self.calibration = MulticlassCalibrationError(n_classes, n_bins=ECE_BINS, norm="l1").to(device)

    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add one chunk: ``[n, C]`` logits (or log-probabilities) and ``[n]`` labels."""
        self.confusion.update(logits.argmax(dim=-1), y)
        self.calibration.update(logits.float().softmax(dim=-1), y)

    def compute(self) -> dict[str, float]:
        """The three metrics of every chunk so far."""
        cm = self.confusion.compute().double()
        tp, support, predicted = cm.diagonal(), cm.sum(dim=1), cm.sum(dim=0)
        present = support > 0
        balanced = (tp[present] / support[present]).mean()
        denom = support + predicted  # 2 tp + fp + fn
        f1 = (2 * tp[denom > 0] / denom[denom > 0]).mean()
        return {
            "balanced_acc": balanced.item(),
            "macro_f1": f1.item(),
            "ece": self.calibration.compute().item(),
        }
