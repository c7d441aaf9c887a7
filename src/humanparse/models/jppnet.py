"""JPPNet: joint human parsing and pose estimation (Liang, Gong, Shen, Lin, LIP paper, Section 5).

One ResNet is shared up to Res-4 (``layer3``). The parsing subnet continues with Res-5
(``layer4``), a DeepLab v2 ASPP giving the parsing maps, and the *part module* (two 3x3 convs)
giving the parsing context; the pose subnet, the *joint module*, is a stack of convs on Res-4
giving the pose maps (one heatmap per joint) and the pose context. Refinement stages (0, 1 or
2, each with its own weights) then take the previous stage's pose maps, parsing maps and both
contexts and produce refined pose and parsing maps and new contexts. Every stage's maps are
supervised; at inference parsing averages the stages and pose takes the last one.

Multi-scale inputs ("MSC", Section 6.1): the whole network runs on each rescaled copy of the
input; each stage's maps of every scale are resized to the scale-1.0 output size and merged
by an elementwise max over the scales. At test time (the model in eval mode) ``test_fusion``
may merge them by their mean instead, the paper's inference ("the average probabilities from
each scale"; see :class:`JPPNet`).

Layer widths are Table 7's at ``base_width`` 64 and scale with ``base_width / 64`` (at least
:data:`MIN_WIDTH`), so tiny networks run on the CPU. The added modules have no BatchNorm, as
in the authors' network; their convs have biases.

JPPNet's pose branch alone, and the LIP paper's pose-only baseline, are in :mod:`.pose_net`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..nn.aspp import ASPPv2Head, aspp_rates, init_classifier
from .._checks import check_image_batch, one_of, positive_int
from ..nn.backbones import DEPTHS, STANDARD_WIDTH, build_backbone
from ..nn.init import init_weights
from ..nn.weights import load_backbone_weights
from .multiscale import FUSIONS, MultiScaleInputs, fuse_scales, run_scales
from .output import ModelOutput

# Res-4 and Res-5 must have the same resolution, since the refinement concatenates maps from
# both: true at output stride 8 and 16 (Res-5 dilated), not at 32 (Res-4 at 16, Res-5 at 32).
OUTPUT_STRIDES = (8, 16)
REFINE_STAGES = (0, 1, 2)
MIN_WIDTH = 8
DEFAULT_NUM_JOINTS = 16


def _width(channels: int, base_width: int) -> int:
    """A Table 7 width (at base_width 64) scaled to ``base_width``."""
    return max(MIN_WIDTH, channels * base_width // STANDARD_WIDTH)


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


def _check_common(num_joints: int, output_stride: int, base_width: int) -> None:
    positive_int("num_joints", num_joints)
    if isinstance(output_stride, bool) or not isinstance(output_stride, int) or output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, not {output_stride!r} "
            "(the joint module reads Res-4, which must have the output's resolution)"
        )
    positive_int("base_width", base_width)


def _res4_res5_backbone(name: str, output_stride: int, base_width: int) -> torch.nn.Module:
    """The shared trunk: a backbone whose last two stages, Res-4 and Res-5 (``stage3``, then
    ``stage4`` as its last feature), are at the output stride (the ResNets; EfficientNet-Lite's
    stride-16 and last stages, too)."""
    backbone = build_backbone(name, output_stride, base_width)
    strides = backbone.stage_strides
    last_two_at_stride = strides.get("stage3") == output_stride and strides.get("stage4") == output_stride
    if backbone.out_feature != "stage4" or not last_two_at_stride:
        resnets = ", ".join(f"resnet{depth}" for depth in DEPTHS)
        raise ValueError(f"backbone {name!r} has no Res-4 and Res-5 features at the output stride; use {resnets}")
    return backbone


class ScaleFusion:
    """How a network merges its input scales' maps: by max while training (DeepLab's MSC, as
    JPPNet trains), by ``test_fusion`` in eval mode."""

    test_fusion: str
    training: bool

    def set_test_fusion(self, test_fusion: str) -> None:
        self.test_fusion = one_of("test_fusion", test_fusion, FUSIONS)

    def fuse(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        return fuse_scales(maps, "max" if self.training else self.test_fusion)


# ---------------------------------------------------------------- modules of Table 7


class PartModule(nn.Module):
    """Table 7's part module on Res-5: conv-1 3x3 (512) and conv-2 3x3 (256), each with ReLU.
    Its output is the parsing context."""

    def __init__(self, in_channels: int, base_width: int = STANDARD_WIDTH) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, _width(512, base_width), 3)
        self.conv2 = _conv(self.conv1.out_channels, _width(256, base_width), 3)
        self.out_channels = self.conv2.out_channels
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class JointModule(nn.Module):
    """Table 7's joint module on Res-4: conv-1, conv-2 3x3 (512), conv-3 .. conv-6 3x3 (256),
    conv-7 1x1 (512), conv-8 1x1 (num_joints); ReLU after all but conv-8.

    forward(x) returns (pose maps, pose context), the context being conv-6's output.
    """

    def __init__(self, in_channels: int, num_joints: int, base_width: int = STANDARD_WIDTH) -> None:
        super().__init__()
        w512, w256 = _width(512, base_width), _width(256, base_width)
        self.conv1 = _conv(in_channels, w512, 3)
        self.conv2 = _conv(w512, w512, 3)
        self.conv3 = _conv(w512, w256, 3)
        self.conv4 = _conv(w256, w256, 3)
        self.conv5 = _conv(w256, w256, 3)
        self.conv6 = _conv(w256, w256, 3)
        self.conv7 = _conv(w256, w512, 1)
        self.conv8 = _conv(w512, num_joints, 1)
        self.context_channels = self.conv6.out_channels
        init_weights(self)
        init_classifier(self.conv8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5, self.conv6):
            x = torch.relu(conv(x))
        context = x
        return self.conv8(torch.relu(self.conv7(context))), context


class _RefinementTrunk(nn.Module):
    """What pose and parsing refinement share (Table 7): remap-1 1x1 of the pose maps (128) and
    remap-2 1x1 of the parsing maps (128), each with ReLU, concatenated with the context; then
    conv-1 3x3 (512), conv-2 5x5, conv-3 7x7, conv-4 9x9 and conv-5 1x1 (256), each with ReLU.

    trunk(pose_maps, parsing_maps, context) returns (conv-5's output, new context = conv-4's output).
    """

    def __init__(self, num_joints: int, num_classes: int, context_channels: int, base_width: int) -> None:
        super().__init__()
        remap = _width(128, base_width)
        self.remap1 = _conv(num_joints, remap, 1)
        self.remap2 = _conv(num_classes, remap, 1)
        self.conv1 = _conv(2 * remap + context_channels, _width(512, base_width), 3)
        self.conv2 = _conv(self.conv1.out_channels, _width(256, base_width), 5)
        self.conv3 = _conv(self.conv2.out_channels, _width(256, base_width), 7)
        self.conv4 = _conv(self.conv3.out_channels, _width(256, base_width), 9)
        self.conv5 = _conv(self.conv4.out_channels, _width(256, base_width), 1)
        self.context_channels = self.conv4.out_channels

    def trunk(
        self, pose_maps: torch.Tensor, parsing_maps: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([torch.relu(self.remap1(pose_maps)), torch.relu(self.remap2(parsing_maps)), context], dim=1)
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        new_context = torch.relu(self.conv4(x))
        return torch.relu(self.conv5(new_context)), new_context


class PoseRefinement(_RefinementTrunk):
    """Table 7's pose refinement: the shared trunk, then conv-6 1x1 (num_joints).

    forward(pose_maps, parsing_maps, pose_context) returns (refined pose maps, new pose context).
    """

    def __init__(self, num_joints: int, num_classes: int, context_channels: int, base_width: int) -> None:
        super().__init__(num_joints, num_classes, context_channels, base_width)
        self.conv6 = _conv(self.conv5.out_channels, num_joints, 1)
        init_weights(self)
        init_classifier(self.conv6)

    def forward(
        self, pose_maps: torch.Tensor, parsing_maps: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features, new_context = self.trunk(pose_maps, parsing_maps, context)
        return self.conv6(features), new_context


class ParsingRefinement(_RefinementTrunk):
    """Table 7's parsing refinement: the shared trunk, then a DeepLab v2 ASPP (num_classes).

    forward(pose_maps, parsing_maps, parsing_context) returns (refined parsing maps, new parsing context).
    """

    def __init__(
        self, num_joints: int, num_classes: int, context_channels: int, base_width: int, rates: Sequence[int]
    ) -> None:
        super().__init__(num_joints, num_classes, context_channels, base_width)
        init_weights(self)
        self.aspp = ASPPv2Head(self.conv5.out_channels, num_classes, rates)  # its own classifier init

    def forward(
        self, pose_maps: torch.Tensor, parsing_maps: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features, new_context = self.trunk(pose_maps, parsing_maps, context)
        return self.aspp(features), new_context


class RefinementStage(nn.Module):
    """One refinement stage: pose and parsing refinement, both fed the previous stage's pose and
    parsing maps (raw logits and heatmaps) and their own context."""

    def __init__(
        self,
        num_joints: int,
        num_classes: int,
        pose_context_channels: int,
        parsing_context_channels: int,
        base_width: int,
        rates: Sequence[int],
    ) -> None:
        super().__init__()
        self.pose = PoseRefinement(num_joints, num_classes, pose_context_channels, base_width)
        self.parsing = ParsingRefinement(num_joints, num_classes, parsing_context_channels, base_width, rates)

    def forward(
        self, pose_maps: torch.Tensor, parsing_maps: torch.Tensor, pose_context: torch.Tensor,
        parsing_context: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (pose maps, parsing maps, pose context, parsing context) of this stage."""
        new_pose, new_pose_context = self.pose(pose_maps, parsing_maps, pose_context)
        new_parsing, new_parsing_context = self.parsing(pose_maps, parsing_maps, parsing_context)
        return new_pose, new_parsing, new_pose_context, new_parsing_context


# ---------------------------------------------------------------- the networks


class JPPNet(ScaleFusion, MultiScaleInputs, nn.Module):
    """Joint human parsing and pose estimation network (LIP paper, Section 5, Table 7, Fig. 9).

    Args:
        num_classes: number of parsing classes.
        num_joints: number of joints (heatmap channels); 16 in LIP.
        backbone: "resnet18", "resnet34", "resnet50" or "resnet101" (the paper's).
        output_stride: 8 (the paper's) or 16.
        base_width: the ResNet's stem width (64 standard); the added modules' widths scale with
            it (Table 7's widths at 64, at least 8 channels).
        refine_stages: number of refinement stages, 0, 1 or 2 (the paper's best has 2).
        scales: the input scales (1.0 is the input itself); (1.0, 0.75, 0.5) is DeepLab's MSC.
        test_fusion: how the scales merge in eval mode: "max" (as in training) or "mean", the
            paper's inference. The mean is of the maps the network returns, parsing logits and
            pose heatmaps, not of softmax probabilities: the authors' evaluation code averages
            logits, and so do the stage average and the test-time flip and scales that follow,
            so inference stays one average of logits throughout.
        pretrained: path to ImageNet weights for the backbone (torchvision's ResNet state dict),
            loaded strictly; None: random init.

    forward(x) takes a normalised float (B, 3, H, W) batch and returns :class:`ModelOutput`
    with, at h, w = ceil(H / s), ceil(W / s), s = :attr:`output_stride`, and "fused" meaning
    merged over the scales by an elementwise max (in eval mode: by ``test_fusion``; just the
    map itself with one scale):

        logits: the mean over stages of the fused parsing maps (the paper's inference);
            ``supervise_logits`` is False, since every stage is supervised through aux_logits.
        aux_logits: the fused parsing maps of stages 0 .. refine_stages; then, with several
            scales, each scale's parsing maps resized to (h, w), stage-major: stage 0 in the
            order of ``scales``, then stage 1, ... (``(1 + refine_stages) * (1 + S)`` maps with
            S > 1 scales, ``1 + refine_stages`` with one).
        heatmaps: the fused pose maps of the last stage (the paper's inference), (B, num_joints, h, w).
        aux_heatmaps: the fused pose maps of the earlier stages (0 .. refine_stages - 1); then,
            with several scales, each scale's pose maps of every stage (the last one included)
            resized to (h, w), stage-major as aux_logits.

    Stage 0 is the parsing subnet (Res-5 + ASPP) and the pose subnet (joint module); stage i
    >= 1 is refinement stage ``refine[i - 1]``.

    Parameter names: ``backbone.*`` exactly as :class:`DeepLab`'s ResNet; ``head.*``
    (ASPP v2, named as DeepLab's so that a DeepLab ``aspp_v2`` model at output stride 8 with the
    same backbone starts JPPNet's parsing network through ``train.init_from``), ``part_module.*``, ``pose_module.*`` (the joint module), and per refinement
    stage ``refine.{i}.pose.*`` and ``refine.{i}.parsing.*``.
    """

    def __init__(
        self,
        num_classes: int,
        num_joints: int = DEFAULT_NUM_JOINTS,
        backbone: str = "resnet101",
        output_stride: int = 8,
        base_width: int = STANDARD_WIDTH,
        refine_stages: int = 2,
        scales: Sequence[float] = (1.0,),
        test_fusion: str = "max",
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        positive_int("num_classes", num_classes)
        _check_common(num_joints, output_stride, base_width)
        if isinstance(refine_stages, bool) or not isinstance(refine_stages, int) or refine_stages not in REFINE_STAGES:
            raise ValueError(
                f"refine_stages must be one of {', '.join(map(str, REFINE_STAGES))}, not {refine_stages!r}"
            )
        self.set_scales(scales)
        self.set_test_fusion(test_fusion)
        self.num_classes = num_classes
        self.num_joints = num_joints
        self.refine_stages = refine_stages
        self.backbone = _res4_res5_backbone(backbone, output_stride, base_width)
        self.output_stride: int = self.backbone.output_stride
        rates = aspp_rates("v2", self.output_stride)
        res5 = self.backbone.stage_channels["stage4"]
        res4 = self.backbone.stage_channels["stage3"]
        self.head = ASPPv2Head(res5, num_classes, rates)
        self.part_module = PartModule(res5, base_width)
        self.pose_module = JointModule(res4, num_joints, base_width)
        stages = []
        pose_context, parsing_context = self.pose_module.context_channels, self.part_module.out_channels
        for _ in range(refine_stages):
            stage = RefinementStage(num_joints, num_classes, pose_context, parsing_context, base_width, rates)
            stages.append(stage)
            pose_context, parsing_context = stage.pose.context_channels, stage.parsing.context_channels
        self.refine = nn.ModuleList(stages)
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)

    def stage_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The network at one scale: the parsing maps of stages 0 .. refine_stages, then the
        pose maps of stages 0 .. refine_stages, all at the output stride."""
        features = self.backbone(x)
        parsing = self.head(features["stage4"])
        parsing_context = self.part_module(features["stage4"])
        pose, pose_context = self.pose_module(features["stage3"])
        parsings, poses = [parsing], [pose]
        for stage in self.refine:
            pose, parsing, pose_context, parsing_context = stage(pose, parsing, pose_context, parsing_context)
            parsings.append(parsing)
            poses.append(pose)
        return parsings + poses

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_image_batch(x)
        per_scale = run_scales(self.stage_maps, x, self.scales, self._scale_fractions, self.output_stride)
        num_stages = 1 + self.refine_stages
        fused = [self.fuse([maps[j] for maps in per_scale]) for j in range(2 * num_stages)]
        fused_parsing, fused_pose = fused[:num_stages], fused[num_stages:]
        aux_logits = list(fused_parsing)
        aux_heatmaps = fused_pose[:-1]
        if len(self.scales) > 1:
            aux_logits += [maps[j] for j in range(num_stages) for maps in per_scale]
            aux_heatmaps += [maps[num_stages + j] for j in range(num_stages) for maps in per_scale]
        logits = fused_parsing[0]
        for stage_logits in fused_parsing[1:]:
            logits = logits + stage_logits
        logits = logits / num_stages
        return ModelOutput(
            logits=logits,
            aux_logits=aux_logits,
            supervise_logits=False,
            heatmaps=fused_pose[-1],
            aux_heatmaps=aux_heatmaps,
        )


__all__ = [
    "OUTPUT_STRIDES",
    "REFINE_STAGES",
    "JPPNet",
    "JointModule",
    "ParsingRefinement",
    "PartModule",
    "PoseRefinement",
    "RefinementStage",
    "ScaleFusion",
]
