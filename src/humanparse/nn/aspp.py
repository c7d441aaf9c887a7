"""DeepLab's classification heads: ASPP of DeepLab v2, v3 and v3+, and the LargeFOV classifier;
and a joint-heatmap head on v3+'s decoder.

Each head maps the backbone's last feature map (B, C_in, h, w) to logits
(B, num_classes, h, w) at the same resolution, except v3+, whose decoder also takes a
stride-4 feature map and returns logits at that map's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .init import init_weights

# Atrous rates by output stride. DeepLab v2 uses 6/12/18/24 at output stride 8 and DeepLab v3
# 6/12/18 at 16 (doubled at 8); the rates shrink with the stride so that each branch keeps
# the same field of view in input pixels.
ASPP_V2_RATES: dict[int, tuple[int, ...]] = {8: (6, 12, 18, 24), 16: (3, 6, 9, 12), 32: (2, 3, 5, 6)}
ASPP_V3_RATES: dict[int, tuple[int, ...]] = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}
CLASSIFIER_INIT_STD = 0.01


def aspp_rates(version: str, output_stride: int) -> tuple[int, ...]:
    """The atrous rates of ASPP ``version`` ("v2" or "v3") at ``output_stride`` (8, 16 or 32)."""
    table = {"v2": ASPP_V2_RATES, "v3": ASPP_V3_RATES}.get(version)
    if table is None:
        raise ValueError(f"unknown ASPP version {version!r}; choose v2 or v3")
    if output_stride not in table:
        raise ValueError(f"no ASPP rates for output stride {output_stride!r}; choose one of {sorted(table)}")
    return table[output_stride]


def init_classifier(conv: nn.Conv2d) -> None:
    """A small normal init for a final classifier, so the first predictions are near uniform."""
    nn.init.normal_(conv.weight, std=CLASSIFIER_INIT_STD)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def _check_rates(rates: Sequence[int]) -> tuple[int, ...]:
    if not rates or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates):
        raise ValueError(f"atrous rates must be positive integers, not {rates!r}")
    return tuple(rates)


class ASPPv2Head(nn.Module):
    """DeepLab v2 ASPP: parallel 3x3 atrous convs, each straight to ``num_classes``, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int] = ASPP_V2_RATES[8]) -> None:
        super().__init__()
        self.rates = _check_rates(rates)
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate) for rate in self.rates
        )
        for branch in self.branches:
            init_classifier(branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.branches[0](x)
        for branch in self.branches[1:]:
            logits = logits + branch(x)
        return logits


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImagePooling(nn.Module):
    """The image-level branch of ASPP v3: global average, 1x1 conv + ReLU, spread back over the map.

    It has no BatchNorm: its BatchNorm would see one value per channel and image, so training
    with batch size 1 would fail.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))
        # Resizing a 1x1 map is a broadcast: expand does it without an interpolation op.
        return pooled.expand(-1, -1, x.shape[-2], x.shape[-1])


class ASPP(nn.Module):
    """DeepLab v3 ASPP: a 1x1 branch, one 3x3 atrous branch per rate and image pooling, each
    with BatchNorm + ReLU, concatenated and projected by a 1x1 conv + BatchNorm + ReLU.

    Returns (B, channels, h, w) features; :class:`ASPPv3Head` adds the classifier.
    """

    def __init__(self, in_channels: int, channels: int = 256, rates: Sequence[int] = ASPP_V3_RATES[16]) -> None:
        super().__init__()
        self.rates = _check_rates(rates)
        self.branches = nn.ModuleList(
            [_conv_bn_relu(in_channels, channels, 1)]
            + [_conv_bn_relu(in_channels, channels, 3, rate) for rate in self.rates]
        )
        self.pooling = ImagePooling(in_channels, channels)
        self.project = _conv_bn_relu(channels * (len(self.rates) + 2), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        outputs.append(self.pooling(x))
        return self.project(torch.cat(outputs, dim=1))


class ASPPv3Head(nn.Module):
    """DeepLab v3 head: :class:`ASPP`, dropout, then a 1x1 classifier."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int = 256,
        rates: Sequence[int] = ASPP_V3_RATES[16],
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, channels, rates)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        init_weights(self.aspp)
        init_classifier(self.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.aspp(x)))


def _separable_conv_bn_relu(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """A 3x3 depthwise conv and a 1x1 pointwise conv, each with BatchNorm + ReLU (v3+'s decoder)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        _conv_bn_relu(in_channels, out_channels, 1),
    )


class ASPPv3PlusHead(nn.Module):
    """DeepLab v3+ (Chen et al., 2018): ASPP on the last feature map, upsampled onto a
    low-level (stride 4) map reduced to 48 channels, then two separable 3x3 convs and a 1x1
    classifier. Small parts (belts, shoes, hands) are found at stride 4, not 16.

    forward(x, low) returns logits at ``low``'s resolution.
    """

    LOW_LEVEL_CHANNELS = 48

    def __init__(
        self,
        in_channels: int,
        low_channels: int,
        num_classes: int,
        channels: int = 256,
        rates: Sequence[int] = ASPP_V3_RATES[16],
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, channels, rates)
        self.reduce = _conv_bn_relu(low_channels, self.LOW_LEVEL_CHANNELS, 1)
        self.fuse = nn.Sequential(
            _separable_conv_bn_relu(channels + self.LOW_LEVEL_CHANNELS, channels),
            _separable_conv_bn_relu(channels, channels),
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        init_weights(self.aspp)
        init_weights(self.reduce)
        init_weights(self.fuse)
        init_classifier(self.classifier)

    def decode(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """The decoder's features (B, channels, *low's size), which the classifier reads."""
        context = F.interpolate(self.aspp(x), size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([context, self.reduce(low)], dim=1))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`decode`'s features."""
        return self.classifier(self.dropout(features))

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.classify(self.decode(x, low))


class HeatmapHead(nn.Module):
    """Joint heatmaps from a decoder's features: two separable 3x3 convs (the second dilated
    by 2, for a wider view of the limb), then a 1x1 conv to one heatmap per joint. It reads the
    features v3+'s classifier reads, so parsing and joints share the whole network but this
    head (a few per cent of its cost at stride 4)."""

    def __init__(self, in_channels: int, num_joints: int, channels: int = 128) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            _separable_conv_bn_relu(in_channels, channels),
            _separable_conv_bn_relu(channels, channels, dilation=2),
        )
        self.out = nn.Conv2d(channels, num_joints, 1)
        init_weights(self.convs)
        init_classifier(self.out)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(features))


class DenseHead(nn.Module):
    """One 3x3 conv straight to the classes: the dense classifier SS-NAN puts on its ResNet-101
    ("the last layer has a spatial convolutional kernel with size C x 3 x 3")."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        init_classifier(self.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


class LargeFOVHead(nn.Module):
    """DeepLab-LargeFOV's fc8: a 1x1 classifier on fc7 (fc6 and fc7 belong to the VGG backbone)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc8 = nn.Conv2d(in_channels, num_classes, 1)
        init_classifier(self.fc8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc8(x)


__all__ = [
    "ASPP",
    "ASPP_V2_RATES",
    "ASPP_V3_RATES",
    "ASPPv2Head",
    "ASPPv3Head",
    "ASPPv3PlusHead",
    "DenseHead",
    "HeatmapHead",
    "ImagePooling",
    "LargeFOVHead",
    "aspp_rates",
    "init_classifier",
]
