"""MPII Human Pose: 16 joints per person, no parsing labels.

Two readers: :class:`MPIIReader` yields Samples from the mmpose-style json
(``[{"image", "joints", "joints_vis", "center", "scale"}]``) with an image folder, as
``annotations/mpii_{split}.json`` + ``images/`` or a json file next to its images;
:class:`MPIIAnnotationReader` lists the people of the ground-truth .mat
(``pos_gt_src``, ``jnt_missing``, ``headboxes_src``), which names no images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..image_io import DataError
from ..pose_files import ImagePoses, read_mpii_gt_mat, scan_mpii_json
from .keypoint_json import JsonSplit, KeypointJsonReader, image_dir_for


class MPIIReader(KeypointJsonReader):
    format_name = "mpii"
    default_schema = "mpii"
    layout_hint = "annotations/mpii_{split}.json + images/, or a json file beside its images"

    annotation_prefix = "mpii_"

    @classmethod
    def locate(cls, root: Path, split: str | None, image_dir: str | Path | None) -> JsonSplit:
        if root.is_file():
            return JsonSplit(split, root, image_dir_for(root, root.parent, image_dir))
        candidates = [root / "annotations" / f"mpii_{split}.json", root / f"{split}.json"]
        for json_path in candidates:
            if split is not None and json_path.is_file():
                return JsonSplit(split, json_path, image_dir_for(json_path, root, image_dir))
        raise DataError(root, f"MPII split {split!r} not found; expected {cls.layout_hint}")

    def scan(self, json_path: Path) -> tuple[list[ImagePoses], list[DataError]]:
        assert self.joint_schema is not None
        return scan_mpii_json(json_path, self.joint_schema.num_joints)


@dataclass
class PoseRecord:
    """The annotations of one item of a keypoint-only file: (P, K, 3) keypoints and meta."""

    keypoints: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


class MPIIAnnotationReader:
    """The people of MPII's ground-truth .mat, one :class:`PoseRecord` each.

    Coordinates are shifted from MATLAB's 1-based pixels to 0-based ones, as for every
    other reader; ``meta["headbox"]`` is the (1, 2, 2) head box (two corners, shifted too).
    """

    format_name = "mpii"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.annotations = read_mpii_gt_mat(self.path)
        # (N, K, 3) and (N, 2, 2), 0-based.
        self.keypoints = self.annotations.keypoints()
        self.keypoints[..., :2] -= 1.0
        self.headboxes = (self.annotations.headboxes - 1.0).astype(np.float32)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __getitem__(self, index: int) -> PoseRecord:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"person index {index} out of range for {n} people")
        index %= n
        return PoseRecord(
            keypoints=self.keypoints[index : index + 1].copy(),
            meta={
                "id": str(index),
                "annotation_path": str(self.path),
                "headbox": self.headboxes[index : index + 1].copy(),
                "format": self.format_name,
                "schema": "mpii",
            },
        )
