"""The stacked hourglass network (Newell, Yang and Deng, ECCV 2016), "HG-ms-nu" in PIL's tables:
m stacks, n residual units at every resolution level.

Every stack is an hourglass (four halvings and four doublings, a skip branch at every level),
then a 1x1 conv + BatchNorm + ReLU, then a 1x1 classifier to one heatmap per joint; the next
stack's input is the stack input + a 1x1 of the features + a 1x1 of the heatmaps (intermediate
supervision: every stack's heatmaps are supervised). The stem brings the image to stride 4
with 256 channels: 7x7/2 conv 64 + BatchNorm + ReLU, residual 64->128, 2x2 max-pool, residual
128->128, residual 128->256 (a narrower network, for CPUs, scales the 64 and 128 with it).

:class:`StackedHourglass` is a pose *trunk*: ``forward(x, refine)`` returns every stack's
heatmaps, and ``refine`` (a callable on the last stack's features) lets a model change those
features before the last classifier reads them (PIL's F^{P*} = F^P + F^a, in the last stack
only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import positive_int
from .aspp import init_classifier
from .init import init_weights

HOURGLASS_DEPTH = 4  # halvings per hourglass (64x64 features -> 4x4 at the bottom)


def _bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
    )


class Residual(nn.Module):
    """The hourglass's residual unit (pre-activation bottleneck): BN-ReLU-1x1 (out/2),
    BN-ReLU-3x3 (out/2), BN-ReLU-1x1 (out), plus the input (through a 1x1 where widths differ)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            _bn_relu_conv(in_channels, mid, 1), _bn_relu_conv(mid, mid, 3), _bn_relu_conv(mid, out_channels, 1)
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


def _units(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(Residual(channels, channels) for _ in range(count)))


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels with ``units`` residual units per level and branch.

    At each level the input goes two ways: a skip branch at this resolution (``units`` units)
    and, after a 2x2 max-pool, ``units`` units, the next level (or, at the bottom, ``units``
    more), ``units`` units and a nearest-neighbour doubling; the two are added. Odd sizes are
    fine: the doubled map is cropped to the skip branch's size.
    """

    def __init__(self, channels: int, units: int, depth: int = HOURGLASS_DEPTH) -> None:
        super().__init__()
        self.skip = _units(channels, units)
        self.down = _units(channels, units)
        self.inner: nn.Module = Hourglass(channels, units, depth - 1) if depth > 1 else _units(channels, units)
        self.up = _units(channels, units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(x)
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2, ceil_mode=True))))
        up = F.interpolate(low, scale_factor=2.0, mode="nearest")
        return skip + up[..., : skip.shape[-2], : skip.shape[-1]]


def hourglass_stem(channels: int) -> nn.Sequential:
    """Image -> (B, channels, ceil(H / 4), ceil(W / 4)) features (the layers before the first stack)."""
    # 64 and 128 at the standard 256 channels, narrower with the network.
    quarter, half = max(1, channels // 4), max(1, channels // 2)
    return nn.Sequential(
        nn.Conv2d(3, quarter, 7, stride=2, padding=3), nn.BatchNorm2d(quarter), nn.ReLU(inplace=True),
        Residual(quarter, half), nn.MaxPool2d(2, ceil_mode=True), Residual(half, half), Residual(half, channels),
    )


Refine = Callable[[torch.Tensor], torch.Tensor]


class StackedHourglass(nn.Module):
    """HG-ms-nu as a pose trunk (see the module docstring).

    Args:
        num_outputs: channels of each stack's classifier (one heatmap per joint, or one map
            per class for a parsing encoder); None for a one-stack encoder without a classifier.
        stacks: m, the number of hourglasses (1, 2, 4, 8 in PIL's tables).
        units: n, residual units per level and branch (1, 2, 4, 8).
        channels: the features' width (256 in the paper).

    ``forward(x, refine=None)`` returns [heatmaps of stack 1, ..., of stack m], each
    (B, num_outputs, ceil(H / 4), ceil(W / 4)); ``refine`` maps the last stack's features to
    the ones its classifier reads. :meth:`run` also gives the last stack's features.
    """

    output_stride = 4

    def __init__(self, num_outputs: int | None, stacks: int = 8, units: int = 1, channels: int = 256) -> None:
        super().__init__()
        for name, value in (("stacks", stacks), ("units", units), ("channels", channels)):
            positive_int(name, value)
        if num_outputs is not None or stacks > 1:  # None: a one-stack encoder's features only
            positive_int("num_outputs", num_outputs)
        self.stacks, self.units, self.channels = stacks, units, channels
        self.stem = hourglass_stem(channels)
        self.hourglasses = nn.ModuleList(Hourglass(channels, units) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(_units(channels, units), nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
                          nn.ReLU(inplace=True))
            for _ in range(stacks)
        )
        self.classifiers = nn.ModuleList(
            nn.Conv2d(channels, num_outputs, 1) for _ in range(stacks if num_outputs is not None else 0)
        )
        # Between stacks: the next input adds 1x1 convs of the features and of the heatmaps.
        self.merge_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(num_outputs, channels, 1) for _ in range(stacks - 1))
        init_weights(self)
        for classifier in self.classifiers:
            init_classifier(classifier)

    def _stack_features(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return self.features[index](self.hourglasses[index](x))

    def run(self, x: torch.Tensor, refine: Refine | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every stack's outputs, and the last stack's features as its hourglass made them
        (before ``refine``): a parsing encoder's F^S, or what a shared encoder's second head reads."""
        x = self.stem(x)
        outputs = []
        for i in range(self.stacks):
            features = self._stack_features(i, x)
            last = i == self.stacks - 1
            if not self.classifiers:
                break  # one stack, features only
            outputs.append(self.classifiers[i](refine(features) if last and refine is not None else features))
            if not last:
                x = x + self.merge_features[i](features) + self.merge_heatmaps[i](outputs[-1])
        return outputs, features

    def forward(self, x: torch.Tensor, refine: Refine | None = None) -> list[torch.Tensor]:
        return self.run(x, refine)[0]


__all__ = ["HOURGLASS_DEPTH", "Hourglass", "Residual", "StackedHourglass", "hourglass_stem"]
