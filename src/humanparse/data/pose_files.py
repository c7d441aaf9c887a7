"""The keypoint file parsers' former home, kept so that existing imports keep working.

Each parser now lives with the reader of its format: the LIP pose CSV in
:mod:`humanparse.data.readers.lip`, MPII's .mat and json in :mod:`~humanparse.data.readers.mpii`,
COCO's json in :mod:`~humanparse.data.readers.coco` (``ImagePoses`` in
:mod:`~humanparse.data.readers.keypoint_json`, ``load_mat`` in :mod:`~humanparse.data.readers.base`).
The prediction-file readers, used only for scoring, are in
:mod:`humanparse.evaluation.prediction_files`.
"""

from __future__ import annotations

from typing import Any

from .readers.base import load_mat
from .readers.coco import scan_coco_keypoints_json
from .readers.keypoint_json import ImagePoses
from .readers.lip import (
    LIP_NUM_JOINTS, PoseCsvScan, parse_lip_pose_row, read_lip_pose_csv, scan_lip_pose_csv, write_lip_pose_csv,
)
from .readers.mpii import MPIIAnnotations, read_mpii_gt_mat, scan_mpii_json

_PREDICTION_READERS = ("read_pose_predictions_array", "read_pose_predictions_csv")


def __getattr__(name: str) -> Any:
    # Imported on first use: data must not import evaluation when it loads.
    if name in _PREDICTION_READERS:
        from ..evaluation import prediction_files

        return getattr(prediction_files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LIP_NUM_JOINTS", "ImagePoses", "MPIIAnnotations", "PoseCsvScan", "load_mat", "parse_lip_pose_row",
    "read_lip_pose_csv", "read_mpii_gt_mat", "read_pose_predictions_array", "read_pose_predictions_csv",
    "scan_coco_keypoints_json", "scan_lip_pose_csv", "scan_mpii_json", "write_lip_pose_csv",
]
