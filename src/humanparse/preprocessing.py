"""How images become network input: the one record of pixel scale, mean, std and letterbox fill.

A model was trained on images divided by ``pixel_scale`` and normalised by ``mean`` and
``std``; its model file stores that record (``model.json``'s ``normalization``) and every
consumer (training, validation, ``evaluate``, ``predict``, export) reads it from there. The
letterbox fill is derived from the mean, so padding normalises to zero whatever the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

# Images are uint8; normalisation divides by this before subtracting the mean.
PIXEL_SCALE = 255
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def fill_for(mean: Sequence[float], pixel_scale: float = PIXEL_SCALE) -> tuple[int, int, int]:
    """The uint8 RGB colour that normalises to (about) zero: the mean on the pixel scale."""
    return tuple(int(round(m * pixel_scale)) for m in mean)  # type: ignore[return-value]


IMAGENET_FILL = fill_for(IMAGENET_MEAN)


def normalize(
    images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(B, 3, H, W) images on 0..255 (uint8 or float) -> float32 ``(x / 255 - mean) / std``,
    on the images' device."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) images, got shape {tuple(images.shape)}")
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.float() / PIXEL_SCALE - m) / s


def _triple(value: Any, name: str, positive: bool = False) -> tuple[float, float, float]:
    if (
        not isinstance(value, (list, tuple)) or len(value) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        or (positive and not all(v > 0 for v in value))
    ):
        kind = "positive " if positive else ""
        raise ValueError(f"{name} must be three finite {kind}numbers (R, G, B), not {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocessing:
    """Pixel scale, per-channel mean and std a model's input is normalised with."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "std", _triple(self.std, "std", positive=True))

    @property
    def fill(self) -> tuple[int, int, int]:
        """The letterbox colour, derived from the mean (it normalises to zero)."""
        return fill_for(self.mean)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        """The model file's ``normalization`` entry."""
        return {"mean": list(self.mean), "std": list(self.std), "scale": PIXEL_SCALE}

    @classmethod
    def from_dict(cls, entry: Any) -> Preprocessing:
        """From a model file's ``normalization`` entry; ValueError naming the bad field."""
        if not isinstance(entry, dict):
            raise ValueError(f"normalization must be a mapping with mean, std and scale, not {entry!r}")
        if entry.get("scale", PIXEL_SCALE) != PIXEL_SCALE:
            raise ValueError(f"normalization.scale {entry.get('scale')!r} is not supported (only {PIXEL_SCALE})")
        return cls(_triple(entry.get("mean"), "normalization.mean"),
                   _triple(entry.get("std"), "normalization.std", positive=True))


__all__ = ["IMAGENET_FILL", "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_SCALE", "Preprocessing", "fill_for", "normalize"]
