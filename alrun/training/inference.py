"""Chunked inference outside the Trainer: evaluation metrics under ``inference_mode``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_accuracy

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
    acc_sum = torch.zeros((), dtype=torch.float64, device=data.x.device)
    loss_sum = torch.zeros_like(acc_sum)
    with torch.inference_mode():
        for x, y in ChunkBatches(data.x, data.y, chunk_size):
            acc, loss = batch_metrics(logits(x), y)
            acc_sum += acc.double() * len(y)
            loss_sum += loss.double() * len(y)
    return {"acc": acc_sum.item() / len(data), "loss": loss_sum.item() / len(data)}
