"""BatchNorm frozen at its statistics, as DeepLab and JPPNet train their ResNets (the authors'
code builds them with ``is_training=False``): each layer normalises by its running statistics
(ImageNet's, when the backbone starts from ImageNet weights), which it no longer updates, and
its affine weight and bias are not trained."""

from __future__ import annotations

from torch import nn


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``module`` (SyncBatchNorm included)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def freeze_batchnorm(module: nn.Module) -> None:
    """Puts every BatchNorm layer of ``module`` in eval mode and stops its affine parameters'
    gradients. Training mode is reset by ``module.train()``: call it again after that."""
    for layer in batchnorm_layers(module):
        layer.eval()
        for parameter in layer.parameters(recurse=False):
            parameter.requires_grad_(False)


__all__ = ["batchnorm_layers", "freeze_batchnorm"]
