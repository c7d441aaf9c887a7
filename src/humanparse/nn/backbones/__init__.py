"""Backbones as a table: a name, a constructor, and one protocol every backbone follows.

A backbone is an ``nn.Module`` whose ``forward(x)`` takes a normalised (B, 3, H, W) batch and
returns its feature maps by name (``{"stem": ..., "stage1": ..., ...}``); it states
``stage_channels`` and ``stage_strides`` (by feature name), ``out_feature`` (the name of the
feature heads build on), ``out_channels`` and ``output_stride``. Models build backbones with
:func:`build_backbone` and read these attributes; none of them parses a backbone's name.

Feature names are shared across families where strides agree: ``stage1`` .. ``stage4`` are
the last features at strides 4, 8, 16 and 32 (or the output stride) in the ResNets and in
EfficientNet-Lite, so a model that asks for ResNet's Res-4 and Res-5 (``stage3``,
``stage4``) gets EfficientNet-Lite's stride-16 and stride-32 stages. A backbone whose ImageNet
weights expect another input normalisation than ImageNet's mean and std states it as
``preprocessing`` (:func:`backbone_preprocessing`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ...preprocessing import Preprocessing
from ..weights import load_backbone_weights
from .efficientnet_lite import VARIANTS, EfficientNetLite, efficientnet_lite
from .hrnet import OUTPUT_STRIDE as HRNET_OUTPUT_STRIDE, WIDTHS as HRNET_WIDTHS, HRNet, hrnet
from .resnet import DEPTHS, OUTPUT_STRIDES, ResNet, resnet
from .vgg import VGG16FCN, VGG16LargeFOV, vgg16_largefov

STANDARD_WIDTH = 64


@runtime_checkable
class Backbone(Protocol):
    """What models rely on in a backbone (see the module docstring)."""

    stage_channels: dict[str, int]
    stage_strides: dict[str, int]
    out_feature: str
    out_channels: int
    output_stride: int

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]: ...


def _vgg16(output_stride: int, base_width: int) -> VGG16LargeFOV:
    # DeepLab-LargeFOV's VGG-16 runs at stride 8 whatever is asked (its pool4/pool5 have stride 1).
    if base_width != STANDARD_WIDTH:
        raise ValueError("base_width applies to the ResNet backbones only; vgg16 has the standard widths")
    return vgg16_largefov()


def _vgg16_fcn(output_stride: int, base_width: int) -> VGG16FCN:
    # PIL's VGG16-FCN runs at stride 8: its last two pools are removed, not traded for dilation.
    if base_width != STANDARD_WIDTH:
        raise ValueError("base_width applies to the ResNet backbones only; vgg16_fcn has the standard widths")
    return VGG16FCN()


def _efficientnet_lite(variant: int, output_stride: int, base_width: int) -> EfficientNetLite:
    if base_width != STANDARD_WIDTH:
        raise ValueError("base_width applies to the ResNet backbones only; EfficientNet-Lite has its own widths")
    return efficientnet_lite(variant, output_stride)


def _hrnet(width: int, output_stride: int, base_width: int) -> HRNet:
    if base_width != STANDARD_WIDTH:
        raise ValueError(f"base_width applies to the ResNet backbones only; HRNet's width is in its name (hrnet_w{width})")
    return hrnet(width)


def _resnet(depth: int, output_stride: int, base_width: int) -> ResNet:
    return resnet(depth, output_stride, base_width)


# name -> constructor(output_stride, base_width)
BACKBONES: dict[str, Callable[[int, int], nn.Module]] = {
    **{f"resnet{depth}": partial(_resnet, depth) for depth in DEPTHS},
    "vgg16": _vgg16,
    "vgg16_fcn": _vgg16_fcn,
    **{f"efficientnet_lite{variant}": partial(_efficientnet_lite, variant) for variant in VARIANTS},
    **{f"hrnet_w{width}": partial(_hrnet, width) for width in HRNET_WIDTHS},
}
# Backbones whose output stride is fixed by their design rather than chosen by dilation.
FIXED_OUTPUT_STRIDES: dict[str, int] = {f"hrnet_w{width}": HRNET_OUTPUT_STRIDE for width in HRNET_WIDTHS}


def build_backbone(
    name: str, output_stride: int = 16, base_width: int = STANDARD_WIDTH, pretrained: str | Path | None = None
) -> nn.Module:
    """The backbone ``name`` of :data:`BACKBONES` at ``output_stride`` (8, 16 or 32, by dilation
    where the backbone allows it; HRNet's is 4, :data:`FIXED_OUTPUT_STRIDES`) with ``base_width``
    channels in its first stage (64 standard;
    16 or 32 make small CPU networks), with ImageNet weights from ``pretrained`` (a file, or
    "imagenet" for the packaged weights of the backbones that have them; loaded strictly, see
    :func:`~humanparse.nn.weights.load_backbone_weights`) or freshly initialised."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if name in FIXED_OUTPUT_STRIDES:
        if output_stride != FIXED_OUTPUT_STRIDES[name]:
            raise ValueError(
                f"{name} has output stride {FIXED_OUTPUT_STRIDES[name]} (its branches concatenated at the finest), "
                f"not {output_stride!r}; set model.output_stride={FIXED_OUTPUT_STRIDES[name]}"
            )
    elif output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, not {output_stride!r}")
    if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
        raise ValueError(f"base_width must be a positive integer, not {base_width!r}")
    backbone = BACKBONES[name](output_stride, base_width)
    if pretrained is not None:
        load_backbone_weights(backbone, pretrained)
    return backbone


def backbone_preprocessing(model: nn.Module) -> Preprocessing:
    """The input normalisation of ``model``'s backbone: the one its ImageNet weights were trained
    with where the backbone states it (EfficientNet-Lite's (x - 127) / 128), ImageNet's mean and
    std otherwise. Used whether or not the weights are loaded, so that a network keeps one
    input convention between its pretrained and from-scratch runs."""
    for module in model.modules():
        if isinstance(getattr(module, "preprocessing", None), Preprocessing):
            return module.preprocessing
    return Preprocessing()


__all__ = [
    "BACKBONES", "DEPTHS", "FIXED_OUTPUT_STRIDES", "HRNET_WIDTHS", "OUTPUT_STRIDES", "STANDARD_WIDTH", "Backbone",
    "EfficientNetLite", "HRNet", "ResNet", "hrnet",
    "VGG16FCN", "VGG16LargeFOV", "backbone_preprocessing", "build_backbone", "efficientnet_lite", "resnet", "vgg16_largefov",
]
