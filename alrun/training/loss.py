"""The training loss: the one function both fit paths call for every mini-batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def training_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean training loss of one mini-batch.

    A model that defines ``training_loss(x, y)`` computes its own (an ensemble whose forward pass
    returns ``[M, N, C]`` logits averages its members' losses there); any other model is trained on
    the cross-entropy of its ``[N, C]`` logits.

    Args:
        net: the model, in train mode.
        x: the mini-batch's inputs.
        y: its integer targets.
    """
    own = getattr(net, "training_loss", None)
    if own is not None:
        return own(x, y)
    return F.cross_entropy(net(x), y)
