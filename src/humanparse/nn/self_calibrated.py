"""SCNet's self-calibrated block, for several independent maps at once as grouped convolutions.

Liu et al., "Improving Convolutional Networks with Self-Calibrated Convolutions" (CVPR 2020).
The block is SCNet's residual SC-bottleneck: two 1x1 convs split the C input channels into two
C/2 halves; one half goes through a plain 3x3 conv (K1); the other through the self-calibrated
conv: K2 on a copy average-pooled by ``pooling`` (4 in SCNet), upsampled back, gates K3's
response by sigmoid(x + up(K2(pool(x)))), then K4; the halves are concatenated, a 1x1 conv
brings them back to C channels, and the input is added (every conv followed by BatchNorm; ReLU
after the split, after K1 and the calibrated conv, and after the sum).

``groups`` runs that many blocks side by side with their own weights: the input holds the
groups' maps one after the other along the channels ((B, groups * C, H, W), group g in channels
g*C .. (g+1)*C - 1), every conv is a grouped conv, and the output keeps the layout. One grouped
block equals ``groups`` separate blocks on the same slices (tested) at the cost of one call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCNET_POOLING = 4


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class SelfCalibratedBlock(nn.Module):
    """``groups`` SC-bottlenecks of ``channels`` channels each (see the module docstring)."""

    def __init__(self, channels: int, groups: int = 1, pooling: int = SCNET_POOLING) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"a self-calibrated block splits its channels in two halves; {channels} is not even")
        half = channels // 2
        self.groups, self.channels = groups, channels
        self.split_plain = _conv_bn(groups * channels, groups * half, 1, groups)
        self.split_calibrated = _conv_bn(groups * channels, groups * half, 1, groups)
        self.k1 = _conv_bn(groups * half, groups * half, 3, groups)
        # ceil_mode: a map smaller than the pooling window still pools to one cell.
        self.pool = nn.AvgPool2d(pooling, pooling, ceil_mode=True)
        self.k2 = _conv_bn(groups * half, groups * half, 3, groups)
        self.k3 = _conv_bn(groups * half, groups * half, 3, groups)
        self.k4 = _conv_bn(groups * half, groups * half, 3, groups)
        self.merge = _conv_bn(groups * channels, groups * channels, 1, groups)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plain = self.relu(self.k1(self.relu(self.split_plain(x))))
        y = self.relu(self.split_calibrated(x))
        context = F.interpolate(self.k2(self.pool(y)), size=y.shape[-2:], mode="bilinear", align_corners=False)
        calibrated = self.relu(self.k4(self.k3(y) * torch.sigmoid(y + context)))
        b, _, h, w = x.shape
        # Concatenate the halves group by group, so that each group's C channels stay together.
        halves = torch.stack([plain.view(b, self.groups, -1, h, w), calibrated.view(b, self.groups, -1, h, w)], 2)
        return self.relu(self.merge(halves.view(b, -1, h, w)) + x)


__all__ = ["SCNET_POOLING", "SelfCalibratedBlock"]
