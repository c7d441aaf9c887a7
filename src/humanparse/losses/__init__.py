"""Losses, apart from the models: a training task composes model + losses + metrics."""

from .cross_entropy import ParsingLoss, upsample_to
from .heatmap import HeatmapLoss
from .structure import StructureSensitiveLoss

__all__ = ["HeatmapLoss", "ParsingLoss", "StructureSensitiveLoss", "upsample_to"]
