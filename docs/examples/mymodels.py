"""Two models of your own. Any torch.nn.Module that maps a batch of inputs to logits [N, C] is a model."""

from math import prod

import torch
from torch import nn


class TinyNet(nn.Module):
    """A module that knows nothing of alrun: its sizes are its own settings, and it has no embed().

    Embedding strategies (coreset, badge, ...) use the input of its last nn.Linear (`out`); MC-dropout
    strategies (bald, ...) use its nn.Dropout layer.
    """

    def __init__(self, in_features: int = 64, n_out: int = 10, hidden: int = 32, dropout: float = 0.25):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout)
        )
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


class SizedNet(nn.Module):
    """A module that takes input_shape and n_classes: alrun passes them from the dataset.

    Its embed() gives the embedding that embedding strategies use.
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, hidden: int = 32):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(prod(input_shape), hidden), nn.Tanh())
        self.head = nn.Linear(hidden, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
