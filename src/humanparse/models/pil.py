"""PIL: pose estimation with a Parsing Induced Learner (Nie, Feng, Zuo and Yan, CVPR 2018).

A pose network (stacked hourglass HG-ms-nu, or VGG16-FCN at stride 8) whose last features F^P
are refined by parsing: a separate *parsing encoder* E^S (HG-1s-nu or VGG16-FCN, with its own
1x1 parsing classifier C^S) gives F^S; the *parameter adapter* K_phi turns F^S into a
per-sample depthwise kernel theta~ (h x h x C); the *adaptive convolution* applies
F^a = U * (theta~ *_c (V * F^P)) (Eq. 3, V and U 1x1 convs), and the last classifier reads
F^{P*} = F^P + F^a (in the hourglass, in the last stack only). Training loss (Eq. 2): MSE on
every stack's heatmaps + beta * cross-entropy on the parsing (beta = 0.01), i.e. the loss list
``[{type: heatmap_mse}, {type: cross_entropy, weight: 0.01}]``; the adapter, U and V get
gradient only from the pose term, the parsing encoder from both.

The paper's ablations (its Table 1) are ``fusion`` values of the same model:

- ``pil``: the above;
- ``add`` / ``multi`` / ``concat``: F^S fused into F^P by an elementwise sum, an elementwise
  product, or a channel concatenation and a 1x1 conv, in PIL's place;
- ``mtl``: no parsing encoder; the parsing classifier reads the pose network's own last
  features (one shared network, two heads);
- ``self``: no parsing at all; PIL's branch with a *static* learned depthwise kernel (V, a
  fixed h x h depthwise conv, U, as a residual), which controls for PIL's extra layers;
- ``none``: the plain pose network (the baseline rows).

Readings where the paper is silent:

- The adapter is three 3x3 convs and two 2x2 max-pools without non-linearities (the
  authors' code; Fig. 3's numbers are not in the text): conv stride 2 without padding, pool,
  conv, pool, conv. From the hourglass's 64x64 F^S (256x256 inputs) that is 7x7, the paper's
  h = 7; from VGG's 32x32 it is 3x3. At other input sizes the adapter's output is resized
  bilinearly to that h x h (``kernel_size``), so every input size gets the paper's kernel.
- U and V have no biases (the paper: "we ignore the bias parameters"); after U, BatchNorm and
  ReLU as in the authors' code (``adaptive_norm``), since theta~ comes unnormalised from
  the adapter.
- The pose classifier predicts the J joints (the authors' code adds a background map; the
  paper does not).

Transfer (the paper's MPII experiment): a trained PIL's parsing encoder and adapter, frozen,
on a dataset with joints only: ``train.init_from`` the PIL model with ``train.init_modules:
[parsing_net, adapter]`` and ``train.freeze_modules: [parsing_net, adapter]``, and no
``num_classes`` (nothing is parsed); the pose network, U and V train from scratch.

Parameter names: ``pose_net.*`` (the pose trunk), ``parsing_net.*`` (E^S with C^S),
``adapter.*`` (K_phi), ``adaptive.*`` (V, U and the norm; for ``self`` also its static
kernel), ``fuse.*`` (``concat``'s 1x1 conv), ``parsing_classifier.*`` (``mtl``, and C^S of a
VGG parsing encoder).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_image_batch, one_of, positive_int
from ..nn.aspp import init_classifier
from ..nn.backbones import build_backbone
from ..nn.hourglass import Refine, StackedHourglass
from ..nn.init import init_weights
from ..nn.weights import load_backbone_weights
from .output import ModelOutput

NETWORKS = ("hourglass", "vgg16_fcn")
FUSIONS = ("pil", "add", "multi", "concat", "mtl", "self", "none")
# h, the adaptive kernel's size: what the adapter gives at the paper's 256x256 input.
KERNEL_SIZE = {"hourglass": 7, "vgg16_fcn": 3}
DEFAULT_BETA = 0.01  # the parsing term's weight in Eq. 2 (the authors' main.py)
HOURGLASS_CHANNELS = 256
MIN_ADAPTER_INPUT = 9  # F^S cells a side: below this the adapter's second pool gets one cell


def adaptive_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Each sample's own depthwise convolution: x (B, C, H, W) and kernels (B, C, kh, kw), odd
    sizes, zero padding that keeps H x W (cross-correlation, as ``conv2d``).

    One grouped convolution with the batch folded into the channels (groups = B * C), no loop
    over samples. ONNX's Conv fixes its group count, and with it the batch, at export: there
    the same sum is written as kh * kw shifted products, which keeps the batch dynamic.
    """
    b, c, h, w = x.shape
    kh, kw = kernels.shape[-2:]
    if torch.onnx.is_in_onnx_export():
        padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2))
        out = padded[:, :, :h, :w] * kernels[:, :, :1, :1]
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    out = out + padded[:, :, i : i + h, j : j + w] * kernels[:, :, i : i + 1, j : j + 1]
        return out
    if kernels.shape[:2] != x.shape[:2] or kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernels {tuple(kernels.shape)} must be (B, C, odd, odd) for x {tuple(x.shape)}")
    out = F.conv2d(x.reshape(1, b * c, h, w), kernels.reshape(b * c, 1, kh, kw), padding=(kh // 2, kw // 2), groups=b * c)
    return out.reshape(b, c, h, w)


class ParameterAdapter(nn.Module):
    """K_phi: F^S (B, C, H, W) -> theta~ (B, C, h, h), a depthwise kernel per sample (see the
    module docstring for the layers and for input sizes other than the paper's)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        positive_int("kernel_size", kernel_size)
        self.kernel_size = kernel_size
        self.layers = nn.Sequential(
            nn.Conv2d(channels, channels, 3, stride=2), nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1), nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        init_weights(self)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export() and min(features.shape[-2:]) < MIN_ADAPTER_INPUT:
            raise ValueError(f"the parameter adapter needs parsing features of at least {MIN_ADAPTER_INPUT} cells a "
                             f"side, got {tuple(features.shape[-2:])}: use a larger input")
        # Resized to h x h always (an identity at the paper's input size), so that one exported
        # graph serves every input size.
        k = self.kernel_size
        return F.interpolate(self.layers(features), size=(k, k), mode="bilinear", align_corners=False)


class AdaptiveConv(nn.Module):
    """F^a = U * (theta~ *_c (V * F)): V and U 1x1 convs without bias, a depthwise h x h conv
    between them, then BatchNorm + ReLU (``norm``). ``forward(features, kernels)`` takes the
    kernels (B, C, h, h); with ``static`` the module learns one kernel for every image
    (PIL's "Self" control) and ``forward(features)`` uses it."""

    def __init__(self, channels: int, kernel_size: int, norm: bool = True, static: bool = False) -> None:
        super().__init__()
        self.v = nn.Conv2d(channels, channels, 1, bias=False)
        self.u = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True)) if norm else nn.Identity()
        self.kernel = nn.Parameter(torch.empty(channels, kernel_size, kernel_size)) if static else None
        init_weights(self)
        if self.kernel is not None:
            nn.init.normal_(self.kernel, std=1.0 / kernel_size)

    def forward(self, features: torch.Tensor, kernels: torch.Tensor | None = None) -> torch.Tensor:
        if kernels is None:
            if self.kernel is None:
                raise ValueError("an adaptive convolution needs the adapter's kernels")
            kernels = self.kernel.expand(features.shape[0], *self.kernel.shape)
        return self.norm(self.u(adaptive_depthwise_conv(self.v(features), kernels)))


class VGG16FCNTrunk(nn.Module):
    """VGG16-FCN as a trunk: ``run(x, refine)`` -> ([outputs of the 1x1 classifier on the
    refined stride-8 features], the features before refinement); no classifier with
    ``num_outputs`` None."""

    output_stride = 8

    def __init__(self, num_outputs: int | None, pretrained: str | None = None) -> None:
        super().__init__()
        self.backbone = build_backbone("vgg16_fcn", 8)
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)
        self.channels = self.backbone.out_channels
        self.classifier = nn.Conv2d(self.channels, num_outputs, 1) if num_outputs is not None else None
        if self.classifier is not None:
            init_classifier(self.classifier)

    def run(self, x: torch.Tensor, refine: Refine | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        features = self.backbone(x)[self.backbone.out_feature]
        if self.classifier is None:
            return [], features
        return [self.classifier(refine(features) if refine is not None else features)], features


def build_trunk(
    network: str, num_outputs: int | None, stacks: int, units: int, pretrained: str | None,
    channels: int | None = None,
) -> nn.Module:
    """A pose or parsing trunk: HG-{stacks}s-{units}u of ``channels`` (default 256), or VGG16-FCN
    (stacks, units and channels unused)."""
    one_of("network", network, NETWORKS)
    if network == "hourglass":
        if pretrained is not None:
            raise ValueError("the hourglass has no ImageNet weights (the paper trains it from scratch); "
                             "pretrained is for vgg16_fcn")
        return StackedHourglass(num_outputs, stacks, units, HOURGLASS_CHANNELS if channels is None else channels)
    if channels is not None:
        raise ValueError("base_width sets the hourglass's channels; VGG16-FCN's are fixed (512)")
    return VGG16FCNTrunk(num_outputs, pretrained)


class ParsingInducedPose(nn.Module):
    """Pose estimation with a Parsing Induced Learner, and the paper's ablations (``fusion``).

    Args:
        num_joints: J, heatmaps of the pose classifier.
        num_classes: parsing classes of C^S (fusions pil, add, multi, concat, mtl); None: no
            parsing classifier (transfer, or fusions self and none). In a config, any value
            but null takes the count from the training data's label schema.
        pose_net: "hourglass" (HG-{stacks}s-{units}u) or "vgg16_fcn".
        stacks, units: the pose hourglass's m and n (8 and 1: HG-8s-1u).
        parsing_net: the parsing encoder, "hourglass" (one stack of ``parsing_units``: HG-1s-2u
            by default) or "vgg16_fcn".
        parsing_units: n of the parsing hourglass.
        fusion: "pil" or an ablation (module docstring).
        adaptive_norm: BatchNorm + ReLU after U (the authors' code; the paper has none).
        pretrained: ImageNet VGG-16 weights (torchvision layout) for the VGG16-FCN networks.
        base_width: the hourglasses' channels (256, the paper's; 64 or 128 for small CPU
            models); the stem narrows with them.

    forward(x) returns :class:`ModelOutput`: heatmaps (B, J, h, w) of the last stack at the pose
    network's stride (4 for the hourglass, 8 for VGG), aux_heatmaps the earlier stacks', and
    logits the parsing (B, num_classes, ...) at the parsing encoder's stride (None without
    classes). The parsing is a training signal: the best checkpoint is chosen by PCK
    (``parsing_is_auxiliary``), and the paper's test scores the joints only.
    """

    parsing_is_auxiliary = True  # training picks the best checkpoint by PCK, not by the parsing's mIoU

    def __init__(
        self,
        num_joints: int,
        num_classes: int | None = None,
        pose_net: str = "hourglass",
        stacks: int = 8,
        units: int = 1,
        parsing_net: str = "hourglass",
        parsing_units: int = 2,
        fusion: str = "pil",
        adaptive_norm: bool = True,
        pretrained: str | None = None,
        base_width: int | None = None,
    ) -> None:
        super().__init__()
        positive_int("num_joints", num_joints)
        one_of("fusion", fusion, FUSIONS)
        if num_classes is not None:
            positive_int("num_classes", num_classes)
            if fusion in ("self", "none"):
                raise ValueError(f"fusion {fusion!r} parses nothing: leave num_classes out")
        elif fusion == "mtl":
            raise ValueError("fusion 'mtl' is a parsing head beside the pose head: it needs num_classes")
        self.num_joints, self.num_classes, self.fusion = num_joints, num_classes, fusion
        self.pose_net = build_trunk(pose_net, num_joints, stacks, units, pretrained, base_width)
        self.output_stride: int = self.pose_net.output_stride
        channels = self.pose_net.channels
        if fusion in ("pil", "add", "multi", "concat"):
            self.parsing_net = build_trunk(
                parsing_net, num_classes, 1, parsing_units, pretrained, base_width if parsing_net == "hourglass" else None
            )
            if self.parsing_net.channels != channels:
                raise ValueError(f"the parsing encoder's {self.parsing_net.channels} channels must match the pose "
                                 f"network's {channels}: choose the same network for both")
        if fusion == "pil":
            self.adapter = ParameterAdapter(channels, KERNEL_SIZE[parsing_net])
            self.adaptive = AdaptiveConv(channels, KERNEL_SIZE[parsing_net], adaptive_norm)
        elif fusion == "self":
            self.adaptive = AdaptiveConv(channels, KERNEL_SIZE[pose_net], adaptive_norm, static=True)
        elif fusion == "concat":
            self.fuse = nn.Conv2d(2 * channels, channels, 1)
            init_weights(self.fuse)
        elif fusion == "mtl":
            self.parsing_classifier = nn.Conv2d(channels, num_classes, 1)
            init_classifier(self.parsing_classifier)

    def _refine(self, parsing_features: torch.Tensor | None):
        """The change PIL or an ablation makes to the pose network's last features."""
        if self.fusion == "pil":
            kernels = self.adapter(parsing_features)
            return lambda f: f + self.adaptive(f, kernels)
        if self.fusion == "self":
            return lambda f: f + self.adaptive(f)
        if parsing_features is None:
            return None

        def fused(f: torch.Tensor) -> torch.Tensor:
            s = parsing_features
            if s.shape[-2:] != f.shape[-2:]:
                s = F.interpolate(s, size=f.shape[-2:], mode="bilinear", align_corners=False)
            if self.fusion == "add":
                return f + s
            if self.fusion == "multi":
                return f * s
            return self.fuse(torch.cat([f, s], dim=1))

        return fused

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_image_batch(x)
        logits, parsing_features = None, None
        if hasattr(self, "parsing_net"):
            parsing, parsing_features = self.parsing_net.run(x)
            logits = parsing[0] if parsing else None
        heatmaps, pose_features = self.pose_net.run(x, self._refine(parsing_features))
        if self.fusion == "mtl":
            logits = self.parsing_classifier(pose_features)
        return ModelOutput(logits=logits, heatmaps=heatmaps[-1], aux_heatmaps=heatmaps[:-1])


__all__ = [
    "DEFAULT_BETA", "FUSIONS", "KERNEL_SIZE", "NETWORKS", "AdaptiveConv", "ParameterAdapter", "ParsingInducedPose",
    "VGG16FCNTrunk", "adaptive_depthwise_conv", "build_trunk",
]
