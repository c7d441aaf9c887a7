"""Reusable network blocks: backbones (ResNet, VGG-16 LargeFOV), DeepLab heads, weight loading."""

from .aspp import ASPP, ASPPv2Head, ASPPv3Head, LargeFOVHead, aspp_rates
from .resnet import ResNet, resnet
from .vgg import VGG16LargeFOV, vgg16_largefov
from .weights import WeightsError, load_backbone_weights, read_state_dict

__all__ = [
    "ASPP", "ASPPv2Head", "ASPPv3Head", "LargeFOVHead", "ResNet", "VGG16LargeFOV", "WeightsError", "aspp_rates",
    "load_backbone_weights", "read_state_dict", "resnet", "vgg16_largefov",
]
