"""Pose-only networks: the LIP paper's "ResNet-101" baseline, and JPPNet's pose branch alone.

:class:`ResNetPose` (``resnet_pose``) is the baseline of the LIP paper's pose tables (Section
4.2, Tables 5, 6 and 10): DeepLab's ResNet-101 with atrous convolution, for which the authors
"reserve the entire network and change the output layer to generate pose heatmaps". It is a
:class:`DeepLab` whose classifier predicts one heatmap per joint instead of the classes.

:class:`JPPNetPoseBranch` (``jppnet_pose_branch``; ``pose_net`` is its earlier name, still
accepted) is JPPNet's pose subnet trained alone: the shared ResNet up to Res-4 and the joint
module of Table 7, with no Res-5. It isolates what JPPNet's parsing adds to its pose; it is
not the paper's baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_image_batch, positive_int
from ..nn.backbones import STANDARD_WIDTH
from ..nn.weights import load_backbone_weights
from .deeplab import DeepLab
from .jppnet import DEFAULT_NUM_JOINTS, JointModule, ScaleFusion, _check_common, _res4_res5_backbone
from .multiscale import MultiScaleInputs, run_scales
from .output import ModelOutput


class ResNetPose(nn.Module):
    """The LIP paper's pose-only "ResNet-101" baseline: a whole DeepLab with its output layer
    changed to ``num_joints`` heatmaps.

    Args:
        num_joints: number of joints (heatmap channels); 16 in LIP.
        head: DeepLab's output layer, to the joints: "aspp_v2" (default: DeepLab v2's classifier
            on ResNet-101, four atrous 3x3 convs summed), "largefov" (VGG-16's 1x1 fc8 on fc7),
            "dense" (one 3x3 conv) or "aspp_v3".
        **deeplab: the network's other options, as :class:`DeepLab` takes them (``backbone``,
            any of the backbone table, default resnet101; ``output_stride``, here default 8,
            the paper's; ``base_width``, ``dropout``, ``pretrained``).

    forward(x) returns :class:`ModelOutput` with logits None and heatmaps
    (B, num_joints, ceil(H / s), ceil(W / s)), s = :attr:`output_stride`.

    Parameter names: ``backbone.*`` and ``head.*`` exactly as :class:`DeepLab`'s with the same
    options, so a DeepLab parsing model starts this one's backbone through ``train.init_from``
    (its head, of another width, is left as initialised).
    """

    def __init__(self, num_joints: int = DEFAULT_NUM_JOINTS, head: str = "aspp_v2", **deeplab: Any) -> None:
        positive_int("num_joints", num_joints)
        super().__init__()
        network = DeepLab(num_joints, head=head, **{"output_stride": 8, **deeplab})
        self.backbone, self.head = network.backbone, network.head
        self.head_name = network.head_name
        self.num_joints = num_joints
        self.output_stride: int = network.output_stride

    features_and_logits = DeepLab.features_and_logits

    def forward(self, x: torch.Tensor) -> ModelOutput:
        _, heatmaps = self.features_and_logits(x)
        return ModelOutput(logits=None, heatmaps=heatmaps)


class JPPNetPoseBranch(ScaleFusion, MultiScaleInputs, nn.Module):
    """JPPNet's pose branch alone: its shared ResNet up to Res-4 (``layer3``) and its joint module.

    Args: as :class:`~humanparse.models.JPPNet`'s, less ``num_classes`` and ``refine_stages``.

    forward(x) returns :class:`ModelOutput` with logits None, heatmaps the pose maps
    (B, num_joints, ceil(H / s), ceil(W / s)) merged over the scales by an elementwise max (in
    eval mode: by ``test_fusion``), and aux_heatmaps, with several scales, each scale's pose
    maps resized to that size (in the order of ``scales``; empty with one scale).

    Parameter names: ``backbone.*`` as :class:`DeepLab`'s ResNet without ``layer4`` (which this
    network does not use and does not keep) and ``pose_module.*``.
    """

    def __init__(
        self,
        num_joints: int = DEFAULT_NUM_JOINTS,
        backbone: str = "resnet101",
        output_stride: int = 8,
        base_width: int = STANDARD_WIDTH,
        scales: Sequence[float] = (1.0,),
        test_fusion: str = "max",
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        _check_common(num_joints, output_stride, base_width)
        self.set_scales(scales)
        self.set_test_fusion(test_fusion)
        self.num_joints = num_joints
        trunk = _res4_res5_backbone(backbone, output_stride, base_width)
        if pretrained is not None:
            # Loaded while the ResNet is still whole, so the file is checked as strictly as for
            # JPPNet and DeepLab (a full ResNet state dict of this depth and width); layer4's
            # weights are then dropped with layer4 itself.
            load_backbone_weights(trunk, pretrained)
        # layer4 (Res-5) is not used: an Identity keeps ResNet.forward working (its "stage4"
        # is then stage3, unused) and leaves no backbone.layer4.* in the state dict.
        trunk.layer4 = nn.Identity()
        trunk.out_feature = "stage3"
        trunk.out_channels = trunk.stage_channels["stage3"]
        self.backbone = trunk
        self.output_stride: int = trunk.stage_strides["stage3"]
        self.pose_module = JointModule(trunk.out_channels, num_joints, base_width)

    def pose_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The network at one scale: [pose maps] at the output stride."""
        heatmaps, _ = self.pose_module(self.backbone(x)["stage3"])
        return [heatmaps]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_image_batch(x)
        per_scale = run_scales(self.pose_maps, x, self.scales, self._scale_fractions, self.output_stride)
        maps = [m[0] for m in per_scale]
        return ModelOutput(
            logits=None, heatmaps=self.fuse(maps), aux_heatmaps=maps if len(self.scales) > 1 else []
        )


PoseNet = JPPNetPoseBranch  # its earlier name

__all__ = ["JPPNetPoseBranch", "PoseNet", "ResNetPose"]
