"""Plain ``torch.nn`` classifiers (no Lightning here).

Every net takes ``input_shape`` and ``n_classes`` (filled in from the dataset, never by hand) and
is split into ``body`` (input -> penultimate features) and ``head`` (features -> logits), so
strategies that work on embeddings can ask for ``body(x)``. Dropout layers exist only when their
probability is above 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn

from alrun.config.checks import check_int, check_number, show
from alrun.errors import ConfigError


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
        check_dropout(dropout=dropout)
        hidden = check_sizes("model.hidden", hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)


def check_dropout(**probs: float) -> None:
    """Refuse a dropout probability that is not a number in ``[0, 1)``."""
    for key, p in probs.items():
        check_number(f"model.{key}", p)
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"model.{key}={p} is out of range (allowed: 0 <= p < 1)")


def check_sizes(key: str, sizes: Sequence[int]) -> list[int]:
    """Layer widths as a list of integers >= 1 (``model.hidden=[64, 64]``), else a ConfigError."""
    allowed = "(allowed: a list of integers >= 1, e.g. [64, 64])"
    if isinstance(sizes, str) or not isinstance(sizes, Sequence):
        raise ConfigError(f"{key}={show(sizes)} is not a list {allowed}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise ConfigError(f"{key}={show(list(sizes))} is not a list of integers {allowed}")
    if any(s < 1 for s in sizes):
        raise ConfigError(f"{key}={list(sizes)} is out of range {allowed}")
    return list(sizes)


def image_shape(input_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    """``(channels, height, width)`` of image items; a ConfigError for flat inputs."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"model={model} needs image items [channels, height, width], but the dataset gives items "
            f"of shape {tuple(input_shape)} (use model=mlp or model=logreg; "
            "dataset=digits has dataset.images=true)"
        )
    c, h, w = (int(v) for v in input_shape)
    return c, h, w


def maybe_dropout(p: float) -> list[nn.Module]:
    """``[nn.Dropout(p)]``, or nothing when ``p`` is 0."""
    return [nn.Dropout(p)] if p > 0 else []


class LogReg(Classifier):
    """Multinomial logistic regression: flatten, then one linear layer (features = the inputs).

    Args:
        input_shape: shape of one input item (flattened).
        n_classes: number of classes.
    """

    def __init__(self, input_shape: Sequence[int], n_classes: int) -> None:
        super().__init__()
        self.body = nn.Flatten()
        self.head = nn.Linear(prod(input_shape), n_classes)


class CNN(Classifier):
    """The convnet of Gal, Islam and Ghahramani (2017), after Keras' MNIST example: conv-relu-conv-relu-
    maxpool-dropout-dense-relu-dropout, then a linear head.

    Args:
        input_shape: ``[channels, height, width]`` of one image.
        n_classes: number of classes.
        channels: filters of each of the two convolutions.
        kernel: convolution kernel size (no padding).
        pool: max-pooling window and stride.
        hidden: width of the dense layer (the embedding).
        dropout_conv: dropout probability after pooling.
        dropout_dense: dropout probability after the dense layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        channels: int = 32,
        kernel: int = 3,
        pool: int = 2,
        hidden: int = 128,
        dropout_conv: float = 0.25,
        dropout_dense: float = 0.5,
    ) -> None:
        super().__init__()
        check_dropout(dropout_conv=dropout_conv, dropout_dense=dropout_dense)
        for key, value in (("channels", channels), ("kernel", kernel), ("pool", pool), ("hidden", hidden)):
            check_int(f"model.{key}", value, 1)
        c, h, w = image_shape(input_shape, "cnn")
        side_h, side_w = (h - 2 * (kernel - 1)) // pool, (w - 2 * (kernel - 1)) // pool
        if min(side_h, side_w) < 1:
            raise ConfigError(
                f"model=cnn: images of {h}x{w} are too small for two {kernel}x{kernel} convs and pool {pool}"
            )
        self.body = nn.Sequential(
            nn.Conv2d(c, channels, kernel),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel),
            nn.ReLU(),
            nn.MaxPool2d(pool),
            *maybe_dropout(dropout_conv),
            nn.Flatten(),
            nn.Linear(channels * side_h * side_w, hidden),
            nn.ReLU(),
            *maybe_dropout(dropout_dense),
        )
        self.head = nn.Linear(hidden, n_classes)
