"""HRNet-W18/W32/W48 with the HRNetV2 representation: every branch at stride 4, concatenated.

Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition" (TPAMI
2020). A stem of two stride-2 3x3 convs (stride 4, 64 channels) and one stage of four
bottlenecks (``layer1``, 256 channels) feed four stages of parallel branches at strides 4, 8,
16 and 32 with W, 2W, 4W and 8W channels. Each stage is a run of high-resolution modules (1,
4 and 3 of them in stages 2, 3 and 4): four basic blocks per branch, then every branch takes
the sum of all branches brought to its resolution (strided 3x3 convs down, 1x1 conv and
upsampling up). A transition adds the next, coarser branch from the coarsest one.

Module and parameter names are those of the official HRNet ImageNet classification
checkpoints (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1``, ``transition1`` ..
``transition3``, ``stage2`` .. ``stage4`` with ``branches`` and ``fuse_layers``), so those
files load strictly; their classification head (``incre_modules``, ``downsamp_modules``,
``final_layer``, ``classifier``) is dropped (:attr:`HRNet.imagenet_only_prefixes`). Layers
without parameters where the official code keeps None (a branch whose transition changes
nothing, a branch's own entry among its fuse layers) are identities here, which leaves the
indices of every named parameter as they are.

Upsampling inside the fuse layers and for the HRNetV2 concatenation is bilinear to the exact
size of the finer branch (HRNet's segmentation code), so any input size works: a feature at
stride s has size ceil(H / s) x ceil(W / s) as for the other backbones. The classification
code upsamples by nearest neighbour; the ImageNet weights fine-tune either way.

The output stride is 4: the concatenation lives on the finest branch and is not traded for
dilation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..init import init_weights
from .resnet import BasicBlock, Bottleneck

WIDTHS = (18, 32, 48)
OUTPUT_STRIDE = 4
STEM_CHANNELS = 64
BLOCKS_PER_BRANCH = 4
# Stage -> number of high-resolution modules (stages 2, 3 and 4; 2, 3 and 4 branches).
MODULES_PER_STAGE = {2: 1, 3: 4, 4: 3}


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class _Upsample(nn.Module):
    """A 1x1 conv + BN from a coarser branch, then bilinear upsampling to the finer branch."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Index 0 and 1 as in the official Sequential(conv, bn, upsample).
        self.add_module("0", nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module("1", nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return _resize(self._modules["1"](self._modules["0"](x)), like)  # type: ignore[misc]


class HighResolutionModule(nn.Module):
    """Branches of basic blocks, then a sum over all branches at every branch's resolution."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(BLOCKS_PER_BRANCH))) for c in channels
        )
        self.fuse_layers = nn.ModuleList()
        for i, target in enumerate(channels):
            row = nn.ModuleList()
            for j, source in enumerate(channels):
                if j > i:
                    row.append(_Upsample(source, target))
                elif j == i:
                    row.append(nn.Identity())
                else:  # i - j strided 3x3 convs, the last one to the target's channels without ReLU
                    steps = i - j
                    row.append(nn.Sequential(*(
                        _conv_bn(source, target if k == steps - 1 else source, 3, 2, relu=k < steps - 1)
                        for k in range(steps)
                    )))
            self.fuse_layers.append(row)
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            total = xs[i]
            for j, layer in enumerate(row):
                if j < i:
                    total = total + layer(xs[j])
                elif j > i:
                    total = total + layer(xs[j], xs[i])
            fused.append(self.relu(total))
        return fused


class HRNet(nn.Module):
    """HRNet-W``width`` (18, 32 or 48) as a feature extractor with the HRNetV2 output.

    forward(x) returns ``{"stem": ..., "stage1": ..., ..., "stage4": ..., "hrnetv2": ...}``: the
    stem (stride 4, 64 channels), the four branches of the last stage (strides 4, 8, 16, 32;
    W, 2W, 4W, 8W channels; ``stage1`` .. ``stage4`` as in the other backbones) and their
    concatenation on the stride-4 grid (15W channels: 270, 480 or 720), the feature heads
    build on (``out_feature``).
    """

    imagenet_only_prefixes: tuple[str, ...] = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")

    def __init__(self, width: int = 48) -> None:
        super().__init__()
        if width not in WIDTHS:
            raise ValueError(f"unknown HRNet width {width!r}; choose one of {', '.join(map(str, WIDTHS))}")
        self.name = f"hrnet_w{width}"
        self.width = width
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        stage1_channels = STEM_CHANNELS * Bottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(STEM_CHANNELS, stage1_channels, 1, bias=False), nn.BatchNorm2d(stage1_channels)
        )
        self.layer1 = nn.Sequential(
            Bottleneck(STEM_CHANNELS, STEM_CHANNELS, downsample=downsample),
            *(Bottleneck(stage1_channels, STEM_CHANNELS) for _ in range(1, BLOCKS_PER_BRANCH)),
        )
        previous: tuple[int, ...] = (stage1_channels,)
        for stage, modules in MODULES_PER_STAGE.items():
            channels = tuple(width * 2**b for b in range(stage))
            setattr(self, f"transition{stage - 1}", self._transition(previous, channels))
            setattr(self, f"stage{stage}", nn.Sequential(*(HighResolutionModule(channels) for _ in range(modules))))
            previous = channels

        self.stage_channels: dict[str, int] = {
            "stem": STEM_CHANNELS, **{f"stage{b + 1}": c for b, c in enumerate(previous)}, "hrnetv2": sum(previous),
        }
        self.stage_strides: dict[str, int] = {
            "stem": OUTPUT_STRIDE, **{f"stage{b + 1}": OUTPUT_STRIDE * 2**b for b in range(len(previous))},
            "hrnetv2": OUTPUT_STRIDE,
        }
        self.out_feature = "hrnetv2"
        self.out_channels = self.stage_channels["hrnetv2"]
        self.output_stride = OUTPUT_STRIDE
        init_weights(self)

    @staticmethod
    def _transition(previous: tuple[int, ...], channels: tuple[int, ...]) -> nn.ModuleList:
        """Branches kept (a 3x3 conv where their width changes) and one new branch, one stride
        coarser, from the coarsest previous branch."""
        layers = nn.ModuleList()
        for b, c in enumerate(channels):
            if b < len(previous):
                layers.append(nn.Identity() if previous[b] == c else _conv_bn(previous[b], c, 3, 1, relu=True))
            else:  # the official code nests the new branch's conv one level deeper
                layers.append(nn.Sequential(_conv_bn(previous[-1], c, 3, 2, relu=True)))
        return layers

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        stem = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        branches = [self.layer1(stem)]
        for stage in MODULES_PER_STAGE:
            transition: nn.ModuleList = getattr(self, f"transition{stage - 1}")
            branches = [
                layer(branches[b] if b < len(branches) else branches[-1]) for b, layer in enumerate(transition)
            ]
            for module in getattr(self, f"stage{stage}"):
                branches = module(branches)
        features = {"stem": stem, **{f"stage{b + 1}": f for b, f in enumerate(branches)}}
        features["hrnetv2"] = torch.cat([branches[0], *(_resize(f, branches[0]) for f in branches[1:])], dim=1)
        return features


def hrnet(width: int = 48) -> HRNet:
    """HRNet-W``width`` (18, 32 or 48) as a feature extractor (HRNetV2 output, stride 4)."""
    return HRNet(width)


__all__ = ["HRNet", "HighResolutionModule", "OUTPUT_STRIDE", "WIDTHS", "hrnet"]
