"""Chunked inference outside the Trainer: evaluation metrics under ``inference_mode``.

Under several ranks each rank evaluates every k-th chunk and the sums are added up across ranks, so
every rank gets the metrics of the whole split (each chunk the same arithmetic as in one process;
only the order of the float64 sums differs)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_accuracy

from alrun.data.tensors import ChunkBatches, TensorData
from alrun.training.metrics import NAMES, SplitMetrics

METRICS: tuple[str, ...] = ("acc", "loss", *NAMES)


def batch_metrics(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy of one batch (the one definition all paths use)."""
    acc = multiclass_accuracy(logits, y, num_classes=logits.shape[-1], average="micro")
    return acc, F.cross_entropy(logits, y)


def evaluate(
    logits: Callable[[torch.Tensor], torch.Tensor], data: TensorData, chunk_size: int
) -> dict[str, float]:
    """Accuracy, cross-entropy, balanced accuracy, macro-F1 and ECE of ``logits`` over ``data``, in
    chunks (accuracy and loss weighted by chunk size; the others from :class:`SplitMetrics`).

    Args:
        logits: the model's forward pass (already in eval mode, on ``data``'s device).
        data: the split to evaluate.
        chunk_size: items per forward pass.
    """
    if len(data) == 0:
        return dict.fromkeys(METRICS, math.nan)
    acc_sum = torch.zeros((), dtype=torch.float64, device=data.x.device)
    loss_sum = torch.zeros_like(acc_sum)
    split: SplitMetrics | None = None
    with torch.inference_mode():
        for x, y in ChunkBatches(data.x, data.y, chunk_size):
            out = logits(x)
            acc, loss = batch_metrics(out, y)
            acc_sum += acc.double() * len(y)
            loss_sum += loss.double() * len(y)
            split = split or SplitMetrics(out.shape[-1], out.device)
            split.update(out, y)
    assert split is not None
    return {"acc": acc_sum.item() / len(data), "loss": loss_sum.item() / len(data)} | split.compute()


def predict(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``[N]`` predicted classes of ``x`` (the net in eval mode, on ``x``'s device), on the CPU, in chunks."""
    with torch.inference_mode():
        parts = [net(x[i : i + chunk_size]).argmax(dim=-1).cpu() for i in range(0, len(x), chunk_size)]
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)
