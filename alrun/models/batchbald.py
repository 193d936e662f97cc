"""The MNIST convnet of BatchBALD (Kirsch, van Amersfoort and Gal 2019; BlackHC/BatchBALD,
``src/mnist_model.py``): conv 32 5x5 - dropout2d - maxpool 2 - relu - conv 64 5x5 - dropout2d -
maxpool 2 - relu - dense 128 - relu - dropout - dense C, the same dropout probability everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from alrun.config.checks import check_int
from alrun.errors import ConfigError
from alrun.models.nets import Classifier, check_dropout, image_shape, maybe_dropout


def _dropout2d(p: float) -> list[nn.Module]:
    return [nn.Dropout2d(p)] if p > 0 else []


class BatchBALDCNN(Classifier):
    """BatchBALD's two-block convnet; on 28x28 images the dense layer sees 64 x 4 x 4 features.

    Args:
        input_shape: ``[channels, height, width]`` of one image.
        n_classes: number of classes.
        channels: filters of the two convolutions (BatchBALD: 32 and 64).
        hidden: width of the dense layer (the embedding).
        dropout: the probability of every dropout layer (channel dropout after each convolution,
            plain dropout after the dense layer).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_dropout(dropout=dropout)
        first, second = (check_int(f"model.channels[{i}]", c, 1) for i, c in enumerate(_pair(channels)))
        check_int("model.hidden", hidden, 1)
        c, h, w = image_shape(input_shape, "batchbald_cnn")
        side_h, side_w = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        if min(side_h, side_w) < 1:
            raise ConfigError(f"model=batchbald_cnn: images of {h}x{w} are too small (at least 16x16)")
        self.body = nn.Sequential(
            nn.Conv2d(c, first, 5), *_dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(first, second, 5), *_dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(second * side_h * side_w, hidden), nn.ReLU(),
            *maybe_dropout(dropout),
        )  # fmt: skip
        self.head = nn.Linear(hidden, n_classes)


def _pair(channels: Sequence[int]) -> Sequence[int]:
    if isinstance(channels, str) or not isinstance(channels, Sequence) or len(channels) != 2:
        raise ConfigError(f"model.channels={channels!r} is not allowed (two integers >= 1, e.g. [32, 64])")
    return channels
