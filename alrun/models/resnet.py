"""A small residual network for 28x28 / 32x32 images (written here: torchvision is not used).

He et al. (2016)'s CIFAR design: a 3x3 stem, then stages of basic blocks whose width doubles while
the resolution halves, global average pooling, a linear head. The defaults (widths 16-32-64, one
block per stage) give an 8-layer net of about 78 K parameters; ``blocks: 3`` gives ResNet-20.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from alrun.config.checks import check_int
from alrun.errors import ConfigError
from alrun.models.nets import Classifier, check_dropout, check_sizes, image_shape, maybe_dropout


class BasicBlock(nn.Module):
    """Two 3x3 conv-batchnorm layers with a shortcut (a 1x1 projection when the shape changes).

    Args:
        c_in: input channels.
        c_out: output channels.
        stride: stride of the first convolution (2 halves the resolution).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(Classifier):
    """Small ResNet; the embedding is the globally pooled output of the last stage.

    Args:
        input_shape: ``[channels, height, width]`` of one image.
        n_classes: number of classes.
        widths: channels of each stage (the first keeps the resolution, each later one halves it).
        blocks: basic blocks per stage.
        dropout: dropout probability on the pooled features, before the head (0 = none).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        widths: Sequence[int] = (16, 32, 64),
        blocks: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_dropout(dropout=dropout)
        c, _, _ = image_shape(input_shape, "resnet")
        widths = check_sizes("model.widths", widths)
        check_int("model.blocks", blocks, 1)
        if not widths:
            raise ConfigError(
                "model.widths=[] is out of range (allowed: a list of integers >= 1, e.g. [64, 64])"
            )
        layers: list[nn.Module] = [
            nn.Conv2d(c, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        c_in = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks):
                layers.append(BasicBlock(c_in, width, 2 if stage > 0 and block == 0 else 1))
                c_in = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), *maybe_dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_classes)
