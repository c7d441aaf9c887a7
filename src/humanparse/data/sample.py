"""The one sample shape that every reader produces and every later step consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

# Keypoint visibility flags, the third column of ``Sample.keypoints`` (COCO's convention).
MISSING = 0  # not annotated, or outside the image / crop: never supervised
OCCLUDED = 1  # annotated but marked not visible
VISIBLE = 2  # annotated and visible


@dataclass(frozen=True)
class MapSpec:
    """How an extra per-pixel map of a :class:`Sample` moves with the image.

    kind: "continuous" for floating maps (probabilities, confidences, soft priors), which
        are resampled bilinearly; "mask" for bool or uint8 maps (noise masks, region masks),
        which are resampled by nearest neighbour so that they keep their values.
    class_indexed: the map is (C, H, W) with one channel per class of the sample's label
        schema, so a mirroring warp swaps left/right channels by the schema's flip
        permutation, as it swaps label ids and logits.
    fill: the value of pixels that come from outside the source image.

    Two kinds, not more, because resampling and dtype are all that differ between maps: a
    class prior (WSHP) is ``MapSpec("continuous", class_indexed=True)``, a confidence map
    (HIPN) ``MapSpec("continuous")``, a noise mask ``MapSpec("mask")``. Naming what a map is,
    rather than an interpolation flag, lets the Sample refuse a float "mask" or a uint8
    "continuous" map that would be resampled wrongly.
    """

    kind: Literal["continuous", "mask"]
    class_indexed: bool = False
    fill: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "mask"):
            raise ValueError(f"MapSpec.kind must be 'continuous' or 'mask', not {self.kind!r}")
        if not math.isfinite(self.fill):
            raise ValueError(f"MapSpec.fill must be finite, not {self.fill}")
        if self.kind == "mask" and not (self.fill == int(self.fill) and 0 <= self.fill <= 255):
            raise ValueError(f"a mask's fill must be an integer in 0..255, not {self.fill}")

    def check(self, name: str, array: np.ndarray, size: tuple[int, int]) -> None:
        """Raise ValueError unless ``array`` is a map of this kind over an image of ``size``."""
        if array.ndim not in (2, 3) or array.shape[-2:] != size:
            raise ValueError(
                f"Sample.maps[{name!r}] must be (H, W) or (C, H, W) with (H, W) = {size}, got {array.shape}"
            )
        if self.class_indexed and array.ndim != 3:
            raise ValueError(f"Sample.maps[{name!r}] is class-indexed and must be (C, H, W), got {array.shape}")
        if self.kind == "continuous" and not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"Sample.maps[{name!r}] is continuous and must be floating, not {array.dtype}")
        if self.kind == "mask":
            if array.dtype not in (np.bool_, np.uint8):
                raise ValueError(f"Sample.maps[{name!r}] is a mask and must be bool or uint8, not {array.dtype}")
            if array.dtype == np.bool_ and self.fill not in (0, 1):
                raise ValueError(f"Sample.maps[{name!r}] is a bool mask, so its fill must be 0 or 1, not {self.fill}")


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
    maps: extra per-pixel maps by name, each (H, W) or (C, H, W) over the image's pixels
        (class priors, confidences, noise masks); warped, flipped and batched with the image.
    map_specs: a :class:`MapSpec` for every name in ``maps``: how that map is resampled.
    """

    image: np.ndarray
    label: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    map_specs: dict[str, MapSpec] = field(default_factory=dict)

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
        if self.maps.keys() != self.map_specs.keys():
            raise ValueError(
                f"Sample.maps {sorted(self.maps)} and Sample.map_specs {sorted(self.map_specs)} must name the same maps"
            )
        for name, array in self.maps.items():
            self.map_specs[name].check(name, array, self.size)

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

    maps -> ``batch["maps"][name]``, (B, H, W) or (B, C, H, W) in the map's own dtype (bool
    and uint8 masks stay one byte), for each map every sample has; without maps in common
    the batch has no "maps" key. Specs stay out of the batch (whoever reads a map knows
    what it is), which keeps it plain tensors that Lightning can move to the device.
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
    names = [n for n in samples[0].maps if all(n in s.maps for s in samples[1:])]
    if names:
        batch["maps"] = {n: torch.from_numpy(_stack_map(samples, n)) for n in names}
    return batch


def _stack_map(samples: Sequence[Sample], name: str) -> np.ndarray:
    specs = {s.map_specs[name] for s in samples}
    shapes = {(s.maps[name].shape, s.maps[name].dtype) for s in samples}
    if len(specs) != 1 or len(shapes) != 1:
        raise ValueError(f"cannot collate map {name!r}: samples differ in spec, shape or dtype ({specs}, {shapes})")
    return np.stack([s.maps[name] for s in samples])
