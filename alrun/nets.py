"""Plain ``torch.nn`` classifiers (no Lightning here).

Every net takes ``input_shape`` and ``n_classes`` (filled in from the dataset) and is split into
``body`` (input -> penultimate features) and ``head`` (features -> logits), so strategies that work
on embeddings can ask for ``body(x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn


class Classifier(nn.Module):
    """Base of alrun's nets: ``forward(x) = head(body(x))`` returns logits."""

    body: nn.Module
    head: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``[N, C]``."""
        return self.head(self.body(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features of shape ``[N, D]``."""
        return self.body(x)


class MLP(Classifier):
    """Multi-layer perceptron: flatten, then ``Linear-ReLU[-Dropout]`` per hidden size, then a linear head.

    Args:
        input_shape: shape of one input item (flattened).
        n_classes: number of classes.
        hidden: sizes of the hidden layers.
        dropout: dropout probability after each hidden layer (0 = none).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)
