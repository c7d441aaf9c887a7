"""VGG-16 as a dense feature extractor at output stride 8, in two forms: DeepLab-LargeFOV's
(:class:`VGG16LargeFOV`, below) and PIL's fully convolutional one (:class:`VGG16FCN`: the 13
convs with the last two max-pools removed, nothing dilated, no fc layers).

The 13 convs keep torchvision's names (``features.0`` .. ``features.28``), so the
``features.*`` part of a torchvision VGG-16 ImageNet state dict loads strictly (its
``classifier.*`` is dropped by :func:`humanparse.nn.weights.load_backbone_weights`).

Changes from the classification network, as in DeepLab-LargeFOV:
- pool1-3 are 3x3 with stride 2 and padding 1 (sizes ceil(H / 2), like the ResNet stem);
- pool4 and pool5 are 3x3 with stride 1 and padding 1, so the output stride stays 8;
- the conv5 layers are dilated by 2 to keep their field of view after pool4 lost its stride;
- fc6 is a 3x3 conv with dilation 12 and 1024 channels, fc7 a 1x1 conv with 1024 channels,
  each followed by ReLU and dropout. They are new (``fc6``, ``fc7``) and start from random
  weights; ImageNet files do not provide them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..init import init_weights

# Conv channel counts per block; a pool follows each block.
_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FC_CHANNELS = 1024
FC6_DILATION = 12


class VGG16LargeFOV(nn.Module):
    """VGG-16 trunk + fc6/fc7 of DeepLab-LargeFOV.

    forward(x) returns ``{"stage1": ..., ..., "stage5": ..., "fc7": ...}``: the output of
    each conv block after its pool (strides 2, 4, 8, 8, 8) and of fc7 (stride 8).
    Attributes as :class:`~humanparse.nn.backbones.resnet.ResNet`: ``stage_channels``,
    ``stage_strides``, ``out_feature`` ("fc7"), ``out_channels`` (1024), ``output_stride``
    (8), and ``new_parameter_prefixes`` (the parameters ImageNet weights do not hold).

    ``fc_dropout`` is the dropout after fc6 and after fc7 (0.5 in DeepLab-LargeFOV).
    """

    new_parameter_prefixes: tuple[str, ...] = ("fc6.", "fc7.")

    def __init__(self, fc_dropout: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= fc_dropout < 1.0:
            raise ValueError(f"fc_dropout must be in [0, 1), not {fc_dropout!r}")
        layers: list[nn.Module] = []
        pool_indices: list[int] = []
        in_channels = 3
        for block_index, channels in enumerate(_BLOCKS):
            dilation = 2 if block_index == 4 else 1
            for out_channels in channels:
                layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation))
                layers.append(nn.ReLU(inplace=True))
                in_channels = out_channels
            stride = 2 if block_index < 3 else 1
            pool_indices.append(len(layers))
            layers.append(nn.MaxPool2d(kernel_size=3, stride=stride, padding=1))
        # One Sequential, laid out exactly as torchvision's, so that the conv indices match.
        self.features = nn.Sequential(*layers)
        self._pool_indices = frozenset(pool_indices)
        self.fc6 = nn.Conv2d(in_channels, FC_CHANNELS, 3, padding=FC6_DILATION, dilation=FC6_DILATION)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(fc_dropout)
        self.fc7 = nn.Conv2d(FC_CHANNELS, FC_CHANNELS, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout(fc_dropout)

        self.output_stride = 8
        self.stage_channels: dict[str, int] = {f"stage{i + 1}": c[-1] for i, c in enumerate(_BLOCKS)}
        self.stage_channels["fc7"] = FC_CHANNELS
        self.stage_strides: dict[str, int] = {"stage1": 2, "stage2": 4, "stage3": 8, "stage4": 8, "stage5": 8, "fc7": 8}
        self.out_feature = "fc7"
        self.out_channels = FC_CHANNELS
        init_weights(self)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        stage = 1
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._pool_indices:
                outputs[f"stage{stage}"] = x
                stage += 1
        x = self.drop6(self.relu6(self.fc6(x)))
        outputs["fc7"] = self.drop7(self.relu7(self.fc7(x)))
        return outputs


class VGG16FCN(nn.Module):
    """PIL's VGG16-FCN: the 13 convs of VGG-16 (ReLU after each) with the last two max-pools
    removed, so the total stride is 8 ("we further remove the last two max pooling layers to
    reduce its total stride from 32 to 8"); no dilation, no fc layers; 512 channels out.

    pool1-3 are VGG's 2x2/2 (with ceil mode, so any size works: features ceil(H / 8)). The
    removed pools stay as identities at their places, so the convs keep torchvision's indices
    (``features.0`` .. ``features.28``) and a torchvision VGG-16 state dict's ``features.*``
    loads strictly. forward(x) returns ``{"stage1": ..., ..., "stage5": ...}`` (strides 2, 4,
    8, 8, 8); ``out_feature`` is "stage5".
    """

    new_parameter_prefixes: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ends: list[int] = []
        in_channels = 3
        for block_index, channels in enumerate(_BLOCKS):
            for out_channels in channels:
                layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]
                in_channels = out_channels
            ends.append(len(layers))
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True) if block_index < 3 else nn.Identity())
        self.features = nn.Sequential(*layers)
        self._block_ends = frozenset(ends)
        self.output_stride = 8
        self.stage_channels: dict[str, int] = {f"stage{i + 1}": c[-1] for i, c in enumerate(_BLOCKS)}
        self.stage_strides: dict[str, int] = {"stage1": 2, "stage2": 4, "stage3": 8, "stage4": 8, "stage5": 8}
        self.out_feature = "stage5"
        self.out_channels = _BLOCKS[-1][-1]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._block_ends:
                outputs[f"stage{len(outputs) + 1}"] = x
        return outputs


def vgg16_largefov(fc_dropout: float = 0.5) -> VGG16LargeFOV:
    """The DeepLab-LargeFOV VGG-16 feature extractor (output stride 8)."""
    return VGG16LargeFOV(fc_dropout=fc_dropout)


__all__ = ["VGG16FCN", "VGG16LargeFOV", "vgg16_largefov"]
