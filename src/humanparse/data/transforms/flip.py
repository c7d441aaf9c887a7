"""Test-time mirroring of batched network outputs, with left/right channels swapped by schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...schemas.base import JointSchema, LabelSchema

if TYPE_CHECKING:
    import torch


def _flip_channels(t: "torch.Tensor", perm: np.ndarray, name: str) -> "torch.Tensor":
    import torch

    if not isinstance(t, torch.Tensor) or t.ndim != 4:
        shape = tuple(getattr(t, "shape", ()))
        raise ValueError(f"expected a (B, C, H, W) torch tensor, got {type(t).__name__} {shape}")
    if t.shape[1] != len(perm):
        raise ValueError(f"tensor has {t.shape[1]} channels but schema {name!r} has {len(perm)}")
    return t.flip(-1).index_select(1, torch.as_tensor(perm, device=t.device))


def flip_logits(logits: "torch.Tensor", label_schema: LabelSchema) -> "torch.Tensor":
    """Mirror (B, C, H, W) parsing scores horizontally and swap left/right class channels.

    Applying it to the output for a flipped input gives scores for the unflipped input;
    applying it twice is the identity.
    """
    return _flip_channels(logits, label_schema.flip_permutation, label_schema.name)


def flip_heatmaps(heatmaps: "torch.Tensor", joint_schema: JointSchema) -> "torch.Tensor":
    """Mirror (B, K, H, W) joint heatmaps horizontally and swap left/right joint channels.

    The heatmap's own pixel grid is mirrored (column j -> W - 1 - j).
    """
    return _flip_channels(heatmaps, joint_schema.flip_permutation, joint_schema.name)
