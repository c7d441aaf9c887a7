"""Attention to scale (Chen, Yang, Wang, Xu, Yuille, CVPR 2016).

One DeepLab network is shared over several rescaled copies of the input; a small attention
network predicts, for every pixel, a softmax over the scales, and the final logits are the
attention-weighted sum of the per-scale logits. Each scale's logits are also returned for
the extra supervision the paper finds essential. The LIP paper's "Attention" baseline and
the base network of SS-JPPNet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import positive_int
from ..nn.aspp import init_classifier
from .deeplab import DeepLab
from .multiscale import check_scales, run_scales, scale_fractions
from .output import ModelOutput


class AttentionToScale(nn.Module):
    """DeepLab shared over input scales, merged by a learned per-pixel attention over scales.

    Args:
        num_classes: number of parsing classes.
        scales: the input scales (the input is resized by each; 1.0 is the input itself).
        attention_channels: width of the attention network's hidden 3x3 conv.
        **deeplab: the shared network's options, as :class:`DeepLab` takes them (backbone,
            output_stride, head, base_width, dropout, pretrained).

    The attention network sees the backbone's last feature map of every scale (VGG-16's fc7,
    as in the paper; ``layer4`` for a ResNet), each resized bilinearly to the scale-1.0
    output size (ceil(H / s), ceil(W / s)) and concatenated; it is a 3x3 conv, ReLU, dropout
    (DeepLab's ``dropout`` option) and a 1x1 conv to one channel per scale, followed by a
    softmax over the scales.

    forward(x) returns :class:`ModelOutput` with
        logits: the attention-weighted sum of the per-scale logits, (B, C, h, w);
        aux_logits: each scale's logits resized to (h, w), in the order of ``scales``;
        extras["scale_weights"]: the attention, (B, len(scales), h, w), summing to 1 per pixel.

    Parameter names: the shared network is ``backbone.*`` and ``head.*`` exactly as in
    :class:`DeepLab`; the attention network is ``attention.*``.
    """

    predicts_scale_weights = True

    def __init__(
        self,
        num_classes: int,
        scales: Sequence[float] = (1.0, 0.75, 0.5),
        attention_channels: int = 512,
        **deeplab: Any,
    ) -> None:
        checked_scales = check_scales(scales)  # checked before the (possibly large) network is built
        positive_int("attention_channels", attention_channels)
        super().__init__()
        shared = DeepLab(num_classes, **deeplab)
        # The shared network's parts are this model's own (names backbone.*, head.*, as DeepLab's).
        self.backbone, self.head = shared.backbone, shared.head
        self.num_classes, self.output_stride = num_classes, shared.output_stride
        # Fixed once built: the attention network has one output per scale.
        self.scales, self._scale_fractions = checked_scales, scale_fractions(checked_scales)
        in_channels = self.backbone.out_channels * len(self.scales)
        hidden = nn.Conv2d(in_channels, attention_channels, 3, padding=1)
        to_scales = nn.Conv2d(attention_channels, len(self.scales), 1)
        nn.init.kaiming_normal_(hidden.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(hidden.bias)
        init_classifier(to_scales)  # near-equal weights over the scales at the start
        self.attention = nn.Sequential(hidden, nn.ReLU(inplace=True), nn.Dropout(shared.dropout), to_scales)

    features_and_logits = DeepLab.features_and_logits

    def forward(self, x: torch.Tensor) -> ModelOutput:
        per_scale = run_scales(self.features_and_logits, x, self.scales, self._scale_fractions, self.output_stride)
        features = [maps[0] for maps in per_scale]
        logits = [maps[1] for maps in per_scale]
        weights = torch.softmax(self.attention(torch.cat(features, dim=1)), dim=1)
        merged = (torch.stack(logits, dim=1) * weights.unsqueeze(2)).sum(dim=1)
        return ModelOutput(logits=merged, aux_logits=logits, extras={"scale_weights": weights})


__all__ = ["AttentionToScale"]
