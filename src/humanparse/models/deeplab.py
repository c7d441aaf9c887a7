"""DeepLab: a dilated backbone and an atrous classification head (Chen et al., v2, v3 and v3+).

The parsing baselines of the LIP paper (DeepLab VGG-16 and ResNet-101) and the parsing
network that JPPNet and SS-JPPNet build on. With v3+'s decoder it can also predict joint
heatmaps from the decoder's features (``num_joints``), as the bundled parser does.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_image_batch, one_of, positive_int
from ..nn.aspp import ASPPv2Head, ASPPv3Head, ASPPv3PlusHead, DenseHead, HeatmapHead, LargeFOVHead, aspp_rates
from ..nn.backbones import STANDARD_WIDTH, build_backbone
from ..nn.weights import load_backbone_weights
from .output import ModelOutput

HEADS = ("aspp_v2", "aspp_v3", "aspp_v3_plus", "largefov", "dense")
# The feature v3+'s decoder reads besides the last one (stride 4 in the ResNets and
# EfficientNet-Lite; VGG-16's stage1 is at stride 2).
DECODER_FEATURE = "stage1"
# ASPP v3's width is 256 at the standard ResNet width and scales with base_width.
ASPP_CHANNELS_PER_BASE_WIDTH = 4


def build_head(name: str, backbone: nn.Module, num_classes: int, base_width: int, dropout: float) -> nn.Module:
    """DeepLab's classification head ``name`` on ``backbone``'s last feature map."""
    in_channels, stride = backbone.out_channels, backbone.output_stride
    if name == "aspp_v2":
        return ASPPv2Head(in_channels, num_classes, aspp_rates("v2", stride))
    width = ASPP_CHANNELS_PER_BASE_WIDTH * base_width
    if name == "aspp_v3":
        return ASPPv3Head(in_channels, num_classes, width, aspp_rates("v3", stride), float(dropout))
    if name == "aspp_v3_plus":
        low_channels = backbone.stage_channels[DECODER_FEATURE]
        return ASPPv3PlusHead(in_channels, low_channels, num_classes, width, aspp_rates("v3", stride), float(dropout))
    if name == "dense":
        return DenseHead(in_channels, num_classes)
    return LargeFOVHead(in_channels, num_classes)


class DeepLab(nn.Module):
    """DeepLab for parsing.

    Args:
        num_classes: number of parsing classes.
        backbone: "resnet18", "resnet34", "resnet50", "resnet101", "vgg16" (DeepLab-LargeFOV) or
            "efficientnet_lite0" / "1" / "2" (its last, 320-channel stage feeds the head).
        output_stride: 8, 16 or 32 for the ResNets (stride replaced by dilation below 32).
            VGG-16 LargeFOV always runs at 8, whatever this says.
        head: "aspp_v3" (DeepLab v3: 1x1 + three atrous 3x3 + image pooling, BatchNorm,
            projection), "aspp_v3_plus" (DeepLab v3+: that ASPP and a decoder over the
            stride-4 features, logits at stride 4), "aspp_v2" (DeepLab v2: four atrous 3x3 classifiers, summed) or
            "largefov" (VGG-16's fc8 on its fc7) or "dense" (one 3x3 conv to the classes, SS-NAN's
            classifier). None: aspp_v3 for a ResNet, largefov for VGG-16.
        base_width: the ResNet's stem width (64 standard; 16 or 32 for small CPU models). The
            v3 ASPP width scales with it (256 at 64).
        dropout: dropout before the v3 classifier (VGG-16's fc6/fc7 dropout is DeepLab's 0.5).
        pretrained: path to ImageNet weights for the backbone (torchvision's ResNet or VGG-16
            state dict, .pth/.pt or .safetensors), loaded strictly; "imagenet": the packaged
            weights of an EfficientNet-Lite backbone; None: random init.
        num_joints: also predict this many joint heatmaps, by a small head
            (:class:`~humanparse.nn.aspp.HeatmapHead`, ``joint_head.*``) on the v3+ decoder's
            features (head aspp_v3_plus only); None: parsing only. In a config, any value
            but null takes the count from the training data's joint schema.

    forward(x) takes a normalised float (B, 3, H, W) batch of any size and returns
    :class:`ModelOutput` with logits (B, num_classes, ceil(H / s), ceil(W / s)), s being
    :attr:`output_stride` (the backbone's, or 4 with the v3+ decoder), and with
    ``num_joints``, heatmaps (B, num_joints, ...) at the same stride.
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
        num_joints: int | None = None,
    ) -> None:
        super().__init__()
        positive_int("num_classes", num_classes)
        if num_joints is not None:
            positive_int("num_joints", num_joints)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), not {dropout!r}")
        if head is not None:
            one_of("head", head, HEADS)
        self.backbone = build_backbone(backbone, output_stride, base_width)
        # LargeFOV's fc8 sits on VGG-16's fc7, which is part of that backbone; it is the
        # default there, and ASPP v3 everywhere else.
        has_fc7 = self.backbone.out_feature == "fc7"
        head = ("largefov" if has_fc7 else "aspp_v3") if head is None else head
        if head == "largefov" and not has_fc7:
            raise ValueError(
                f"head 'largefov' is VGG-16's (its fc6/fc7 are part of that backbone); for {backbone} "
                "choose aspp_v2, aspp_v3 or dense"
            )
        self.num_classes = num_classes
        self.head_name = head
        self.dropout = float(dropout)
        self.head = build_head(head, self.backbone, num_classes, base_width, dropout)
        # The logits' stride: the backbone's, or the decoder feature's for v3+.
        self.output_stride: int = (
            self.backbone.stage_strides[DECODER_FEATURE] if isinstance(self.head, ASPPv3PlusHead)
            else self.backbone.output_stride
        )
        self.num_joints = num_joints
        if num_joints is not None:
            if not isinstance(self.head, ASPPv3PlusHead):
                raise ValueError(f"num_joints needs head 'aspp_v3_plus' (the joints are read from its "
                                 f"stride-4 decoder), not {head!r}")
            self.joint_head = HeatmapHead(self.head.classifier.in_channels, num_joints)
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's last feature map and the head's logits, both at the output stride."""
        check_image_batch(x)
        maps = self.backbone(x)
        features = maps[self.backbone.out_feature]
        if isinstance(self.head, ASPPv3PlusHead):  # (also when Attention-to-scale borrows this method)
            return features, self.head(features, maps[DECODER_FEATURE])
        return features, self.head(features)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if self.num_joints is None:
            _, logits = self.features_and_logits(x)
            return ModelOutput(logits=logits)
        check_image_batch(x)
        maps = self.backbone(x)
        decoded = self.head.decode(maps[self.backbone.out_feature], maps[DECODER_FEATURE])
        return ModelOutput(logits=self.head.classify(decoded), heatmaps=self.joint_head(decoded))


__all__ = ["HEADS", "STANDARD_WIDTH", "DeepLab", "build_head"]
