"""Attention to scale (Chen, Yang, Wang, Xu, Yuille, CVPR 2016).

One DeepLab network is shared over several rescaled copies of the input; a small attention
network predicts, for every pixel, a softmax over the scales, and the final logits are the
attention-weighted sum of the per-scale logits. Each scale's logits are also returned for
the extra supervision the paper finds essential. The LIP paper's "Attention" baseline and
the base network of SS-JPPNet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.aspp import init_classifier
from .deeplab import STANDARD_WIDTH, DeepLab
from .output import ModelOutput


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    if (
        isinstance(scales, (str, bytes))
        or not isinstance(scales, Sequence)
        or not scales
        or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in scales
        )
    ):
        raise ValueError(f"scales must be a non-empty list of positive numbers, not {scales!r}")
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales must be distinct, not {scales!r}")
    return tuple(float(s) for s in scales)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class AttentionToScale(DeepLab):
    """DeepLab shared over input scales, merged by a learned per-pixel attention over scales.

    Takes :class:`DeepLab`'s options, plus:
        scales: the input scales (the input is resized by each; 1.0 is the input itself).
        attention_channels: width of the attention network's hidden 3x3 conv.

    The attention network sees the backbone's last feature map of every scale (VGG-16's fc7,
    as in the paper; ``layer4`` for a ResNet), each resized bilinearly to the scale-1.0
    output size (ceil(H / s), ceil(W / s)) and concatenated; it is a 3x3 conv, ReLU, dropout
    (the ``dropout`` option) and a 1x1 conv to one channel per scale, followed by a softmax
    over the scales.

    forward(x) returns :class:`ModelOutput` with
        logits: the attention-weighted sum of the per-scale logits, (B, C, h, w);
        aux_logits: each scale's logits resized to (h, w), in the order of ``scales``;
        extras["scale_weights"]: the attention, (B, len(scales), h, w), summing to 1 per pixel.

    Parameter names: the shared network is ``backbone.*`` and ``head.*`` exactly as in
    :class:`DeepLab`; the attention network is ``attention.*``.
    """

    def __init__(
        self,
        num_classes: int,
        scales: Sequence[float] = (1.0, 0.75, 0.5),
        backbone: str = "resnet101",
        output_stride: int = 16,
        head: str | None = None,
        base_width: int = STANDARD_WIDTH,
        dropout: float = 0.1,
        pretrained: str | None = None,
        attention_channels: int = 512,
    ) -> None:
        checked_scales = _check_scales(scales)  # checked before the (possibly large) network is built
        if isinstance(attention_channels, bool) or not isinstance(attention_channels, int) or attention_channels < 1:
            raise ValueError(f"attention_channels must be a positive integer, not {attention_channels!r}")
        super().__init__(num_classes, backbone, output_stride, head, base_width, dropout, pretrained)
        self.scales = checked_scales
        # Each scale as an exact fraction, so that scaled sizes are integer arithmetic on the
        # input's shape: a float product would be frozen into a constant by export/compile.
        self._scale_fractions = tuple(
            (f.numerator, f.denominator) for f in (Fraction(s).limit_denominator(1000) for s in checked_scales)
        )
        in_channels = self.backbone.out_channels * len(self.scales)
        hidden = nn.Conv2d(in_channels, attention_channels, 3, padding=1)
        to_scales = nn.Conv2d(attention_channels, len(self.scales), 1)
        nn.init.kaiming_normal_(hidden.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(hidden.bias)
        init_classifier(to_scales)  # near-equal weights over the scales at the start
        self.attention = nn.Sequential(hidden, nn.ReLU(inplace=True), nn.Dropout(float(dropout)), to_scales)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        height, width = x.shape[-2], x.shape[-1]
        outputs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if 1.0 in self.scales:
            # The scale-1 output fixes the common size. Taking its actual shape (rather than
            # a formula equal to it) keeps every size a plain function of the input's shape,
            # which export with dynamic sizes needs.
            unit = self.scales.index(1.0)
            outputs[unit] = self.features_and_logits(x)
            out_size = (outputs[unit][1].shape[-2], outputs[unit][1].shape[-1])
        else:
            stride = self.output_stride
            out_size = ((height + stride - 1) // stride, (width + stride - 1) // stride)
        for index, (numerator, denominator) in enumerate(self._scale_fractions):
            if index in outputs:  # the scale-1 pass, already made
                continue
            # floor(size * scale), as DeepLab makes its multi-scale inputs
            scaled = _resize(x, (height * numerator // denominator, width * numerator // denominator))
            scale_features, scale_logits = self.features_and_logits(scaled)
            outputs[index] = (_resize(scale_features, out_size), _resize(scale_logits, out_size))
        features = [outputs[i][0] for i in range(len(self.scales))]
        logits = [outputs[i][1] for i in range(len(self.scales))]
        weights = torch.softmax(self.attention(torch.cat(features, dim=1)), dim=1)
        merged = (torch.stack(logits, dim=1) * weights.unsqueeze(2)).sum(dim=1)
        return ModelOutput(logits=merged, aux_logits=logits, extras={"scale_weights": weights})


__all__ = ["AttentionToScale"]
