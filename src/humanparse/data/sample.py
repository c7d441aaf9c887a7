"""The one sample shape that every reader produces and every later step consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# Keypoint visibility flags, the third column of ``Sample.keypoints`` (COCO's convention).
MISSING = 0  # not annotated, or outside the image / crop: never supervised
OCCLUDED = 1  # annotated but marked not visible
VISIBLE = 2  # annotated and visible


@dataclass
class Sample:
    """One person image with its optional annotations.

    image: (H, W, 3) uint8 RGB.
    label: (H, W) uint8 class ids of the sample's label schema, 255 = ignore; or None.
    keypoints: (P, K, 3) float32 (x, y, visibility) per person, x = column and y = row in
        pixels, visibility one of MISSING / OCCLUDED / VISIBLE (x and y are NaN where
        MISSING); or None. Single-person datasets have P = 1.
    meta: free-form facts about the sample: ``id`` (the file stem), ``image_path``,
        ``label_path``, per-format extras such as ``headbox`` (P, 2, 2) for MPII.
    """

    image: np.ndarray
    label: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Sample.image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}"
            )
        if self.label is not None and self.label.shape != self.image.shape[:2]:
            raise ValueError(
                f"Sample.label shape {self.label.shape} differs from image shape {self.image.shape[:2]}"
            )
        if self.keypoints is not None and (self.keypoints.ndim != 3 or self.keypoints.shape[2] != 3):
            raise ValueError(f"Sample.keypoints must be (P, K, 3), got {self.keypoints.shape}")

    @property
    def id(self) -> str:
        return str(self.meta.get("id", ""))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.image.shape[0]), int(self.image.shape[1])


def missing_keypoints(num_people: int, num_joints: int) -> np.ndarray:
    """(P, K, 3) keypoints with every joint MISSING."""
    kp = np.full((num_people, num_joints, 3), np.nan, dtype=np.float32)
    kp[..., 2] = MISSING
    return kp


def collate(samples: Sequence[Sample]) -> dict[str, Any]:
    """Stack samples of equal size into a batch of tensors.

    image -> (B, 3, H, W) uint8, label -> (B, H, W) uint8 (int64 for labels of a wider type),
    keypoints -> (B, P, K, 3) float32 (only when every sample has the same P and K), meta ->
    list of dicts. Images and labels stay 8-bit until the device (the training task widens
    labels there): an eighth of int64's bytes to pin, copy and send.
    """
    import torch

    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    sizes = {s.size for s in samples}
    if len(sizes) != 1:
        raise ValueError(f"cannot collate samples of different sizes {sorted(sizes)}; crop them first")
    batch: dict[str, Any] = {
        "image": torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous(),
        "meta": [s.meta for s in samples],
    }
    if all(s.label is not None for s in samples):
        labels = np.stack([s.label for s in samples])
        batch["label"] = torch.from_numpy(labels if labels.dtype == np.uint8 else labels.astype(np.int64))
    if all(s.keypoints is not None for s in samples):
        shapes = {s.keypoints.shape for s in samples}  # type: ignore[union-attr]
        if len(shapes) == 1:
            batch["keypoints"] = torch.from_numpy(np.stack([s.keypoints for s in samples]))
    return batch
