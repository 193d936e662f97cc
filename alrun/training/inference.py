"""Chunked inference outside the Trainer: evaluation metrics under ``inference_mode``.

:func:`evaluate_mc` is the MC-averaged variant (``eval_mc_samples``, BatchBALD's test accuracy): the
metrics of the mean of T dropout-on predictive distributions instead of one dropout-off pass.

Under several ranks each rank evaluates every k-th chunk and the sums are added up across ranks, so
every rank gets the metrics of the whole split (each chunk the same arithmetic as in one process;
only the order of the float64 sums differs). :func:`evaluate_mc` gives each rank every k-th of the T
passes and gathers them, so the averaged probabilities are those of one process to the bit."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_accuracy

from alrun import collectives
from alrun.data.tensors import ChunkBatches, TensorData
from alrun.errors import ConfigError
from alrun.strategies.fixed_prefix import fixed_inputs
from alrun.strategies.mc import dropout_layers, independent_masks
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
    k, me = collectives.world(), collectives.rank()
    sums = torch.zeros(2, dtype=torch.float64, device=data.x.device)  # accuracy and loss, item-weighted
    split: SplitMetrics | None = None
    with torch.inference_mode():
        for i, (x, y) in enumerate(ChunkBatches(data.x, data.y, chunk_size)):
            if i % k != me:
                continue
            out = logits(x)
            acc, loss = batch_metrics(out, y)
            sums += torch.stack([acc.double(), loss.double()]) * len(y)
            split = split or SplitMetrics(out.shape[-1], out.device)
            split.update(out, y)
        if k > 1:  # rank 0 holds chunk 0, so it knows the class count
            classes = collectives.from_rank_zero(split.n_classes if split is not None else None)
            split = split or SplitMetrics(classes, data.x.device)
            split.add_up_ranks()
            sums = collectives.all_sum(sums)
    assert split is not None
    acc_sum, loss_sum = sums.tolist()
    return {"acc": acc_sum / len(data), "loss": loss_sum / len(data)} | split.compute()


def check_mc_evaluation(net: torch.nn.Module, samples: int) -> int:
    """``samples`` (``eval_mc_samples``), or a :class:`ConfigError` when it asks a net without dropout."""
    if samples and not dropout_layers(net):
        raise ConfigError(
            f"eval_mc_samples={samples} needs a model with dropout, and {type(net).__name__} has none "
            "(set eval_mc_samples=0, or a dropout probability such as model.dropout=0.5)"
        )
    return samples


def evaluate_mc(
    net: torch.nn.Module, data: TensorData, chunk_size: int, samples: int, seed: int
) -> dict[str, float]:
    """The metrics of :func:`evaluate` for the MC-dropout predictive ``log(mean_t softmax(f_t(x)))``,
    with ``mc_samples`` (T) added; T = 0 is one deterministic pass (:func:`evaluate`).

    Pass ``t`` runs the dropout layers in train mode with masks seeded by ``derive(seed, t)`` (Gal's
    independent masks, as at acquisition); everything else stays in eval mode. The probabilities are
    averaged in float64; the metrics are then those of :func:`evaluate` on the averaged log-probabilities.

    Args:
        net: the model in eval mode, on ``data``'s device.
        data: the split to evaluate.
        chunk_size: items per forward pass.
        samples: T, the number of stochastic passes.
        seed: the seed of the masks (stream ``eval_dropout`` of the round).
    """
    if not samples:
        return evaluate(net, data, chunk_size) | {"mc_samples": 0}
    if len(data) == 0:
        return dict.fromkeys(METRICS, math.nan) | {"mc_samples": samples}
    layers = dropout_layers(net)
    total: torch.Tensor | None = None
    with torch.inference_mode():  # the dropout-free prefix runs once (alrun.strategies.fixed_prefix)
        rest, inputs = fixed_inputs(net, lambda: (x for x, _ in ChunkBatches(data.x, data.y, chunk_size)))

        def one_pass(t: int) -> torch.Tensor:
            with independent_masks(layers, seed, t, data.x.device):
                return torch.cat([rest(x).double().softmax(dim=-1) for x in inputs()])

        # under several ranks: every k-th pass, gathered turn by turn
        for probs in collectives.in_turns(samples, one_pass):  # summed in pass order, as in one process
            probs = probs.to(data.x.device)
            total = probs if total is None else total + probs
    assert total is not None
    mean_log = (total / samples).clamp_min(torch.finfo(torch.float64).tiny).log()
    return evaluate(lambda x: x, TensorData(mean_log, data.y, data.index), chunk_size) | {
        "mc_samples": samples
    }


def predict(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``[N]`` predicted classes of ``x`` (the net in eval mode, on ``x``'s device), on the CPU, in chunks."""
    with torch.inference_mode():
        parts = [net(x[i : i + chunk_size]).argmax(dim=-1).cpu() for i in range(0, len(x), chunk_size)]
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)
