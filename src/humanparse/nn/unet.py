"""pix2pix's U-Net generator (Isola et al., CVPR 2017), the encoder-decoder WSHP refines priors with.

Encoder: ``depth`` 4x4 convs of stride 2, widths 64, 128, 256, 512, 512, ... (``base_width``
times 1, 2, 4, 8, 8, ...), BatchNorm on all but the first, LeakyReLU 0.2. Decoder: the mirror,
4x4 transposed convs of stride 2, BatchNorm, ReLU, dropout 0.5 in the first three, each
concatenated with the encoder layer of its resolution (the skips); a last transposed conv to
``out_channels``. Depth 8 takes a 256 x 256 input down to 1 x 1. Any input size works: it is
padded (replicated edges) to a multiple of 2^depth and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .init import init_weights

MAX_WIDTH_FACTOR = 8
DROPOUT_LAYERS = 3


class UNet(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H, W) (see the module docstring)."""

    def __init__(
        self, in_channels: int, out_channels: int, depth: int = 8, base_width: int = 64, dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"a U-Net needs depth >= 2, not {depth}")
        widths = [base_width * min(2**i, MAX_WIDTH_FACTOR) for i in range(depth)]
        self.depth = depth
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(in_channels if i == 0 else widths[i - 1], width, 4, 2, 1, bias=i == 0)]
            if 0 < i < depth - 1:  # pix2pix: no norm on the first layer nor at the 1x1 bottleneck
                layers.append(nn.BatchNorm2d(width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(1, depth)):  # up from widths[i] to widths[i - 1]
            incoming = widths[i] if i == depth - 1 else 2 * widths[i]
            layers = [nn.ConvTranspose2d(incoming, widths[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i - 1])]
            if depth - 1 - i < DROPOUT_LAYERS and dropout:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.out = nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        step = 2**self.depth
        pad_h, pad_w = (-h) % step, (-w) % step
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for i, layer in enumerate(self.down):
            x = layer(x if i == 0 else F.leaky_relu(x, 0.2))
            skips.append(x)
        x = skips.pop()
        for layer in self.up:
            x = torch.cat([layer(F.relu(x)), skips.pop()], dim=1)
        return self.out(F.relu(x))[..., :h, :w]


__all__ = ["UNet"]
