"""Chunked inference outside the Trainer: evaluation metrics under ``inference_mode``.

Under several ranks each rank evaluates every k-th chunk and the sums are added up across ranks, so
every rank gets the metrics of the whole split (each chunk the same arithmetic as in one process;
only the order of the float64 sums differs)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_accuracy

from alrun import collectives
from alrun.data.tensors import ChunkBatches, TensorData


def batch_metrics(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy of one batch (the one definition all paths use)."""
    acc = multiclass_accuracy(logits, y, num_classes=logits.shape[-1], average="micro")
    return acc, F.cross_entropy(logits, y)


def evaluate(
    logits: Callable[[torch.Tensor], torch.Tensor], data: TensorData, chunk_size: int
) -> dict[str, float]:
    """Accuracy and cross-entropy of ``logits`` over ``data``, in chunks, weighted by chunk size.

    Args:
        logits: the model's forward pass (already in eval mode, on ``data``'s device).
        data: the split to evaluate.
        chunk_size: items per forward pass.
    """
    if len(data) == 0:
        return {"acc": float("nan"), "loss": float("nan")}
    sums = torch.zeros(2, dtype=torch.float64, device=data.x.device)
    k, me = collectives.world(), collectives.rank()
    with torch.inference_mode():
        for i, (x, y) in enumerate(ChunkBatches(data.x, data.y, chunk_size)):
            if i % k == me:
                acc, loss = batch_metrics(logits(x), y)
                sums += torch.stack([acc.double(), loss.double()]) * len(y)
    acc_sum, loss_sum = collectives.all_sum(sums).tolist()
    return {"acc": acc_sum / len(data), "loss": loss_sum / len(data)}
