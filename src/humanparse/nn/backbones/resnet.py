"""ResNet-18/34/50/101 as dense feature extractors with output stride 8, 16 or 32.

Module and parameter names are torchvision's (``conv1``, ``bn1``, ``layer1`` ..
``layer4``, ``layerN.i.downsample.0/1``), so a torchvision ImageNet state dict loads
strictly (its ``fc.*`` classifier is dropped by
:func:`humanparse.nn.weights.load_backbone_weights`). The stride sits on the 3x3 conv of
the bottleneck ("v1.5"), as in torchvision.

Output stride below 32 is reached DeepLab-style: the stride of a stage is replaced by
dilation, so the receptive field is kept while the resolution is not reduced. As in
torchvision, the first block of a dilated stage keeps the previous dilation and the
following blocks use the new one: OS 16 dilates ``layer4`` by 2; OS 8 dilates ``layer3``
by 2 and ``layer4`` by 4.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..init import init_weights

OUTPUT_STRIDES = (8, 16, 32)
DEPTHS = (18, 34, 50, 101)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    # padding = dilation keeps the size at stride 1, and gives ceil(H / 2) at stride 2.
    return nn.Conv2d(
        in_channels, out_channels, kernel_size=3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34)."""

    expansion: ClassVar[int] = 1

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided and/or dilated), 1x1 expand by 4, with a residual (ResNet-50/101)."""

    expansion: ClassVar[int] = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


_LAYOUTS: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """A ResNet trunk without its classifier.

    forward(x) returns ``{"stem": ..., "stage1": ..., ..., "stage4": ...}``: the stem
    (conv1 + bn1 + relu, stride 2, before the max-pool) and the output of each of
    ``layer1`` .. ``layer4``. For an input of size (H, W) a feature at stride s has size
    (ceil(H / s), ceil(W / s)).

    Attributes: ``stage_channels`` and ``stage_strides`` (by feature name),
    ``out_feature`` (the name of the last feature, "stage4"), ``out_channels`` and
    ``output_stride``. ``base_width`` (64 in the standard networks) scales every channel
    count: 16 or 32 make tiny networks for the CPU.
    """

    def __init__(self, depth: int = 50, output_stride: int = 16, base_width: int = 64) -> None:
        super().__init__()
        if depth not in _LAYOUTS:
            raise ValueError(f"unknown ResNet depth {depth!r}; choose one of {', '.join(map(str, DEPTHS))}")
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(
                f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, not {output_stride!r}"
            )
        if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
            raise ValueError(f"base_width must be a positive integer, not {base_width!r}")
        block, counts = _LAYOUTS[depth]
        self.depth = depth
        self.output_stride = output_stride
        self.base_width = base_width
        self._in_channels = base_width
        self._dilation = 1

        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Which of layer3 / layer4 trade their stride for dilation.
        dilate3, dilate4 = {32: (False, False), 16: (False, True), 8: (True, True)}[output_stride]
        self.layer1 = self._make_layer(block, base_width, counts[0], stride=1, dilate=False)
        self.layer2 = self._make_layer(block, base_width * 2, counts[1], stride=2, dilate=False)
        self.layer3 = self._make_layer(block, base_width * 4, counts[2], stride=2, dilate=dilate3)
        self.layer4 = self._make_layer(block, base_width * 8, counts[3], stride=2, dilate=dilate4)

        expansion = block.expansion
        self.stage_channels: dict[str, int] = {
            "stem": base_width,
            "stage1": base_width * expansion,
            "stage2": base_width * 2 * expansion,
            "stage3": base_width * 4 * expansion,
            "stage4": base_width * 8 * expansion,
        }
        self.stage_strides: dict[str, int] = {
            "stem": 2, "stage1": 4, "stage2": 8, "stage3": min(16, output_stride), "stage4": output_stride,
        }
        self.out_feature = "stage4"
        self.out_channels = self.stage_channels["stage4"]
        init_weights(self)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int, dilate: bool
    ) -> nn.Sequential:
        previous_dilation = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self._in_channels != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self._in_channels, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self._in_channels, planes, stride, previous_dilation, downsample)]
        self._in_channels = planes * block.expansion
        layers += [block(self._in_channels, planes, 1, self._dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        stage1 = self.layer1(self.maxpool(stem))
        stage2 = self.layer2(stage1)
        stage3 = self.layer3(stage2)
        stage4 = self.layer4(stage3)
        return {"stem": stem, "stage1": stage1, "stage2": stage2, "stage3": stage3, "stage4": stage4}


def resnet(depth: int, output_stride: int = 16, base_width: int = 64) -> ResNet:
    """A ResNet of the given depth (18, 34, 50 or 101) as a feature extractor."""
    return ResNet(depth=depth, output_stride=output_stride, base_width=base_width)


__all__ = ["DEPTHS", "OUTPUT_STRIDES", "BasicBlock", "Bottleneck", "ResNet", "resnet"]
