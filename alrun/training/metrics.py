"""Metrics of a whole split beyond accuracy, accumulated chunk by chunk (plain torch: a confusion
matrix and per-bin sums, a few kernels per chunk).

* ``balanced_acc``: the mean over the classes present in the split of each class's recall
  (scikit-learn's ``balanced_accuracy_score``);
* ``macro_f1``: the mean over the classes that occur (as a label or a prediction) of
  ``2 tp / (2 tp + fp + fn)`` (scikit-learn's ``f1_score(average="macro")``);
* ``ece``: expected calibration error of the top-label confidence in 15 equal-width bins
  ``[k/15, (k+1)/15)`` (1.0 in the last), ``sum_b (n_b / N) |acc_b - conf_b|`` (Guo et al. 2017;
  torchmetrics' ``MulticlassCalibrationError``, ``norm="l1"``).

The scores come from one confusion matrix and per-bin sums, so chunking never changes them.
"""

from __future__ import annotations

import torch

from alrun import collectives

ECE_BINS = 15
NAMES: tuple[str, ...] = ("balanced_acc", "macro_f1", "ece")


class SplitMetrics:
    """Balanced accuracy, macro-F1 and ECE of a split, updated one chunk of logits at a time.

    Args:
        n_classes: number of classes.
        device: where the accumulators live (the logits' device).
    """

    def __init__(self, n_classes: int, device: torch.device) -> None:
        self.n_classes = n_classes
        self.confusion = torch.zeros(n_classes * n_classes, dtype=torch.int64, device=device)
        self.bins = torch.zeros(3, ECE_BINS, dtype=torch.float64, device=device)  # n, sum conf, sum hit
        self.total = 0

    def update(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add one chunk: ``[n, C]`` logits (or log-probabilities) and ``[n]`` labels."""
        conf, pred = logits.double().softmax(dim=-1).max(dim=-1)
        self.confusion += torch.bincount(y * self.n_classes + pred, minlength=self.n_classes**2)
        which = (conf * ECE_BINS).long().clamp_(0, ECE_BINS - 1)
        parts = torch.stack([torch.ones_like(conf), conf, (pred == y).double()])
        self.bins.index_add_(1, which, parts)
        self.total += len(y)

    def add_up_ranks(self) -> None:
        """Replace the counts with their sums over the ranks (a no-op without a process group)."""
        if collectives.world() == 1:
            return
        flat = torch.cat([self.confusion.double(), self.bins.flatten(), self.bins.new_tensor([self.total])])
        flat = collectives.all_sum(flat)
        n = self.confusion.numel()
        self.confusion = flat[:n].round().long()
        self.bins = flat[n:-1].view_as(self.bins).clone()
        self.total = int(flat[-1].item())

    def compute(self) -> dict[str, float]:
        """The three metrics of every chunk so far."""
        cm = self.confusion.view(self.n_classes, self.n_classes).double()
        tp, support, predicted = cm.diagonal(), cm.sum(dim=1), cm.sum(dim=0)
        present = support > 0
        balanced = (tp[present] / support[present]).mean()
        denom = support + predicted  # 2 tp + fp + fn
        f1 = (2 * tp[denom > 0] / denom[denom > 0]).mean()
        ece = (self.bins[2] - self.bins[1]).abs().sum() / max(self.total, 1)
        return {"balanced_acc": balanced.item(), "macro_f1": f1.item(), "ece": ece.item()}
