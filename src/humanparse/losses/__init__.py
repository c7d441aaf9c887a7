"""Losses, apart from the models: a training task composes model + losses + metrics."""

from .cross_entropy import ParsingLoss, upsample_to

__all__ = ["ParsingLoss", "upsample_to"]
