"""Reusable network blocks: backbones (a name table, see :mod:`.backbones`), DeepLab heads, weight loading."""

from .aspp import ASPP, ASPPv2Head, ASPPv3Head, LargeFOVHead, aspp_rates
from .backbones import (
    BACKBONES,
    Backbone,
    EfficientNetLite,
    HRNet,
    ResNet,
    VGG16LargeFOV,
    build_backbone,
    efficientnet_lite,
    hrnet,
    resnet,
    vgg16_largefov,
)
from .batchnorm import batchnorm_layers, freeze_batchnorm
from .weights import WeightsError, load_backbone_weights, read_state_dict

__all__ = [
    "ASPP", "ASPPv2Head", "ASPPv3Head", "BACKBONES", "Backbone", "EfficientNetLite", "HRNet", "LargeFOVHead", "ResNet",
    "VGG16LargeFOV", "WeightsError", "aspp_rates", "batchnorm_layers", "build_backbone", "efficientnet_lite",
    "freeze_batchnorm", "hrnet", "load_backbone_weights",
    "read_state_dict", "resnet", "vgg16_largefov",
]
