"""DeepLab: a dilated backbone and an atrous classification head (Chen et al., v2 and v3).

The parsing baselines of the LIP paper (DeepLab VGG-16 and ResNet-101) and the parsing
network that JPPNet and SS-JPPNet build on.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.aspp import ASPPv2Head, ASPPv3Head, DenseHead, LargeFOVHead, aspp_rates
from ..nn.resnet import DEPTHS, OUTPUT_STRIDES, resnet
from ..nn.vgg import VGG16LargeFOV
from ..nn.weights import load_backbone_weights
from .output import ModelOutput

BACKBONES = (*(f"resnet{d}" for d in DEPTHS), "vgg16")
HEADS = ("aspp_v2", "aspp_v3", "largefov", "dense")
DEFAULT_HEAD = {"vgg16": "largefov"}  # every ResNet defaults to aspp_v3
STANDARD_WIDTH = 64
# ASPP v3's width is 256 at the standard ResNet width and scales with base_width.
ASPP_CHANNELS_PER_BASE_WIDTH = 4


def _check_options(
    num_classes: int, backbone: str, output_stride: int, head: str | None, base_width: int, dropout: float
) -> str:
    """Validate the options; return the head to use."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, not {num_classes!r}")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, not {output_stride!r}")
    head = DEFAULT_HEAD.get(backbone, "aspp_v3") if head is None else head
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    if head == "largefov" and backbone != "vgg16":
        raise ValueError(
            f"head 'largefov' is VGG-16's (its fc6/fc7 are part of that backbone); for {backbone} "
            "choose aspp_v2, aspp_v3 or dense"
        )
    if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
        raise ValueError(f"base_width must be a positive integer, not {base_width!r}")
    if backbone == "vgg16" and base_width != STANDARD_WIDTH:
        raise ValueError("base_width applies to the ResNet backbones only; vgg16 has the standard widths")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), not {dropout!r}")
    return head


class DeepLab(nn.Module):
    """DeepLab for parsing.

    Args:
        num_classes: number of parsing classes.
        backbone: "resnet18", "resnet34", "resnet50", "resnet101" or "vgg16" (DeepLab-LargeFOV).
        output_stride: 8, 16 or 32 for the ResNets (stride replaced by dilation below 32).
            VGG-16 LargeFOV always runs at 8, whatever this says.
        head: "aspp_v3" (DeepLab v3: 1x1 + three atrous 3x3 + image pooling, BatchNorm,
            projection), "aspp_v2" (DeepLab v2: four atrous 3x3 classifiers, summed) or
            "largefov" (VGG-16's fc8 on its fc7) or "dense" (one 3x3 conv to the classes, SS-NAN's
            classifier). None: aspp_v3 for a ResNet, largefov for VGG-16.
        base_width: the ResNet's stem width (64 standard; 16 or 32 for small CPU models). The
            v3 ASPP width scales with it (256 at 64).
        dropout: dropout before the v3 classifier (VGG-16's fc6/fc7 dropout is DeepLab's 0.5).
        pretrained: path to ImageNet weights for the backbone (torchvision's ResNet or VGG-16
            state dict, .pth/.pt or .safetensors), loaded strictly; None: random init.

    forward(x) takes a normalised float (B, 3, H, W) batch of any size and returns
    :class:`ModelOutput` with logits (B, num_classes, ceil(H / s), ceil(W / s)), s being
    :attr:`output_stride`.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet101",
        output_stride: int = 16,
        head: str | None = None,
        base_width: int = STANDARD_WIDTH,
        dropout: float = 0.1,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        head = _check_options(num_classes, backbone, output_stride, head, base_width, dropout)
        self.num_classes = num_classes
        self.backbone_name = backbone
        self.head_name = head
        if backbone == "vgg16":
            self.backbone: nn.Module = VGG16LargeFOV()
        else:
            self.backbone = resnet(int(backbone.removeprefix("resnet")), output_stride, base_width)
        self.output_stride: int = self.backbone.output_stride
        in_channels: int = self.backbone.out_channels
        if head == "aspp_v2":
            self.head: nn.Module = ASPPv2Head(in_channels, num_classes, aspp_rates("v2", self.output_stride))
        elif head == "aspp_v3":
            width = STANDARD_WIDTH if backbone == "vgg16" else base_width
            self.head = ASPPv3Head(
                in_channels, num_classes, ASPP_CHANNELS_PER_BASE_WIDTH * width,
                aspp_rates("v3", self.output_stride), float(dropout),
            )
        elif head == "dense":
            self.head = DenseHead(in_channels, num_classes)
        else:
            self.head = LargeFOVHead(in_channels, num_classes)
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's last feature map and the head's logits, both at the output stride."""
        # (The TorchScript tracer used for ONNX export cannot record this check, nor needs it.)
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != 3):
            raise ValueError(f"expected a (B, 3, H, W) image batch, got shape {tuple(x.shape)}")
        features = self.backbone(x)[self.backbone.out_feature]
        return features, self.head(features)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        _, logits = self.features_and_logits(x)
        return ModelOutput(logits=logits)


__all__ = ["BACKBONES", "HEADS", "DeepLab"]
