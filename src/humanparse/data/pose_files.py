"""Keypoint annotation files: the LIP pose CSV and MPII's ground-truth .mat.

Keypoints come back as (K, 3) float32 rows of (x, y, visibility) with the flags of
:mod:`humanparse.data.sample`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .image_io import DataError
from .sample import MISSING, OCCLUDED, VISIBLE

LIP_NUM_JOINTS = 16


def _number(text: str, path: Path, line: int, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"line {line}, column {column + 1}: keypoint value {text!r} is not a number") from None
    if math.isinf(value):
        raise DataError(path, f"line {line}, column {column + 1}: keypoint value {text!r} is infinite")
    return value


def parse_lip_pose_row(row: list[str], path: Path, line: int, num_joints: int = LIP_NUM_JOINTS) -> tuple[str, np.ndarray]:
    """One CSV row ``name, x1, y1, v1, ..., xK, yK, vK`` -> (name, (K, 3) keypoints).

    LIP's flag is 0/1 and unreliable; we read 1 as occluded, 0 as visible, and a joint
    whose three fields are ``nan`` as missing.
    """
    row = [c.strip() for c in row]
    if len(row) != 1 + 3 * num_joints:
        raise DataError(path, f"line {line}: expected {1 + 3 * num_joints} columns (name + {num_joints} x (x, y, v)), found {len(row)}")
    name = row[0]
    if not name:
        raise DataError(path, f"line {line}: empty image name")
    values = np.array([_number(t, path, line, i + 1) for i, t in enumerate(row[1:])], dtype=np.float64)
    values = values.reshape(num_joints, 3)
    kp = np.full((num_joints, 3), np.nan, dtype=np.float32)
    for j, (x, y, v) in enumerate(values):
        if np.isnan(x) or np.isnan(y):
            kp[j, 2] = MISSING
            continue
        kp[j, 0], kp[j, 1] = x, y
        kp[j, 2] = OCCLUDED if v == 1 else VISIBLE
    return name, kp


def read_lip_pose_csv(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> dict[str, np.ndarray]:
    """Image name (as written, e.g. ``100034_483681.jpg``) -> (K, 3) keypoints."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "pose CSV does not exist")
    out: dict[str, np.ndarray] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            name, kp = parse_lip_pose_row(row, path, line, num_joints)
            if name in out:
                raise DataError(path, f"line {line}: image {name!r} appears twice")
            out[name] = kp
    return out


def write_lip_pose_csv(path: str | Path, rows: dict[str, np.ndarray]) -> None:
    """Write ``name, x, y, v, ...`` rows in LIP's layout (v = 1 for occluded, ``nan`` if missing)."""
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for name, kp in rows.items():
            row: list[str] = [name]
            for x, y, v in np.asarray(kp, dtype=np.float64):
                if v == MISSING or np.isnan(x) or np.isnan(y):
                    row += ["nan", "nan", "nan"]
                else:
                    row += [f"{x:.6g}", f"{y:.6g}", "1" if v == OCCLUDED else "0"]
            writer.writerow(row)


@dataclass
class MPIIAnnotations:
    """MPII validation ground truth as in ``detections_our_format.mat``.

    gt: (N, 16, 2) x, y; missing: (N, 16) bool; headboxes: (N, 2, 2) two corners;
    predictions: (N, 16, 2) when the file carries ``pos_pred_src``.
    """

    gt: np.ndarray
    missing: np.ndarray
    headboxes: np.ndarray
    predictions: np.ndarray | None = None

    def keypoints(self) -> np.ndarray:
        """(N, 16, 3) keypoints with MISSING / VISIBLE flags."""
        kp = np.concatenate([self.gt, np.full(self.gt.shape[:2] + (1,), VISIBLE)], axis=2).astype(np.float32)
        kp[self.missing] = (np.nan, np.nan, MISSING)
        return kp


def load_mat(path: str | Path) -> dict:
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(path, ".mat file does not exist")
    try:
        return scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for corrupt files
        raise DataError(path, f"unreadable .mat file: {e}") from None


def read_mpii_gt_mat(path: str | Path) -> MPIIAnnotations:
    path = Path(path)
    mat = load_mat(path)
    for key in ("pos_gt_src", "jnt_missing", "headboxes_src"):
        if key not in mat:
            raise DataError(path, f"MPII ground truth lacks {key!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
    gt = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    missing = np.asarray(mat["jnt_missing"])
    boxes = np.asarray(mat["headboxes_src"], dtype=np.float64)
    if gt.ndim != 3 or gt.shape[1] != 2:
        raise DataError(path, f"pos_gt_src has shape {gt.shape}, expected (16, 2, N)")
    n = gt.shape[2]
    if missing.shape != (gt.shape[0], n) or boxes.shape != (2, 2, n):
        raise DataError(path, f"jnt_missing {missing.shape} / headboxes_src {boxes.shape} do not match pos_gt_src {gt.shape}")
    pred = None
    if "pos_pred_src" in mat:
        p = np.asarray(mat["pos_pred_src"], dtype=np.float64)
        if p.shape != gt.shape:
            raise DataError(path, f"pos_pred_src has shape {p.shape}, expected {gt.shape}")
        pred = p.transpose(2, 0, 1)
    return MPIIAnnotations(
        gt=gt.transpose(2, 0, 1),
        missing=missing.T.astype(bool),
        headboxes=boxes.transpose(2, 0, 1),
        predictions=pred,
    )
