"""Weight initialisation shared by the backbones and heads."""

from __future__ import annotations

from torch import nn


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs (fan-out, as torchvision), BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


__all__ = ["init_weights"]
