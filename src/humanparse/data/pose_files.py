"""Keypoint annotation files: the LIP pose CSV, MPII's ground-truth .mat, and the
MPII (mmpose-style) and COCO keypoint json files.

Keypoints come back as (K, 3) float32 rows of (x, y, visibility) with the flags of
:mod:`humanparse.data.sample`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
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


def read_pose_predictions_csv(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> dict[str, np.ndarray]:
    """Predicted joints ``name, x1, y1, ..., xK, yK`` -> {name: (K, 2) float64}.

    Rows of ``name`` + 3K numbers (LIP's layout, flags included) are accepted too and their
    flags ignored; ``nan`` marks a joint that was not predicted.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "prediction CSV does not exist")
    out: dict[str, np.ndarray] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            row = [c.strip() for c in row]
            if not row or not any(row):
                continue
            name = row[0]
            if not name:
                raise DataError(path, f"line {line}: empty image name")
            if len(row) - 1 not in (2 * num_joints, 3 * num_joints):
                raise DataError(
                    path,
                    f"line {line}: expected name + {2 * num_joints} numbers (x, y per joint) "
                    f"or + {3 * num_joints} (x, y, flag), found {len(row) - 1}",
                )
            values = np.array([_number(t, path, line, i + 1) for i, t in enumerate(row[1:])], dtype=np.float64)
            joints = values.reshape(num_joints, -1)[:, :2].copy()
            joints[np.isnan(joints).any(axis=1)] = np.nan
            if name in out:
                raise DataError(path, f"line {line}: image {name!r} appears twice")
            out[name] = joints
    return out


def read_pose_predictions_array(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> np.ndarray:
    """Predicted joints as an (N, K, 2) float64 array, from a ``.npy`` (N, K, 2) or a
    ``.mat`` holding ``pos_pred_src`` (K, 2, N) or ``preds`` (N, K, 2) (the reference MPII
    evaluation's two layouts; ``pos_pred_src`` wins when both are there)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if not path.is_file():
            raise DataError(path, ".npy file does not exist")
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as e:  # numpy raises several types for bad files
            raise DataError(path, f"unreadable .npy file: {e}") from None
        key = "array"
    elif suffix == ".mat":
        mat = load_mat(path)
        if "pos_pred_src" in mat:
            key, arr = "pos_pred_src", np.asarray(mat["pos_pred_src"])
            if arr.ndim == 3:
                arr = arr.transpose(2, 0, 1)
        elif "preds" in mat:
            key, arr = "preds", np.asarray(mat["preds"])
        else:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(path, f"no predictions: expected 'pos_pred_src' (K, 2, N) or 'preds' (N, K, 2), found {found}")
    else:
        raise DataError(path, f"predictions must be a .mat or .npy file, not {path.suffix!r}")
    if arr.ndim != 3 or arr.shape[1] != num_joints or arr.shape[2] not in (2, 3):
        raise DataError(path, f"{key} has shape {arr.shape} (as N, K, C); expected (N, {num_joints}, 2)")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(path, f"{key} holds {arr.dtype}, not numbers")
    return np.ascontiguousarray(arr[:, :, :2], dtype=np.float64)


@dataclass
class PoseCsvScan:
    """Every row of a LIP pose CSV, read without stopping at the first bad one.

    rows: image name -> (K, 3) keypoints; lines: image name -> its line number;
    errors: one :class:`DataError` per malformed or repeated row.
    """

    rows: dict[str, np.ndarray]
    lines: dict[str, int]
    errors: list[DataError]


def scan_lip_pose_csv(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> PoseCsvScan:
    """Read a LIP pose CSV, collecting a :class:`DataError` for each bad row instead of raising.

    A missing or undecodable file is still raised: there is nothing to scan.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "pose CSV does not exist")
    scan = PoseCsvScan(rows={}, lines={}, errors=[])
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if not row or all(not c.strip() for c in row):
                    continue
                try:
                    name, kp = parse_lip_pose_row(row, path, line, num_joints)
                except DataError as e:
                    scan.errors.append(e)
                    continue
                if name in scan.rows:
                    scan.errors.append(
                        DataError(path, f"line {line}: image {name!r} appears twice (first on line {scan.lines[name]})")
                    )
                    continue
                scan.rows[name] = kp
                scan.lines[name] = line
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(path, f"unreadable pose CSV: {e}") from None
    return scan


@dataclass
class ImagePoses:
    """Every person annotated in one image of a keypoint json file.

    keypoints: (P, K, 3) float32 with the flags of :mod:`humanparse.data.sample`, in 0-based
    pixel coordinates; people: per-person extras as arrays with P rows (e.g. ``center``,
    ``scale`` for MPII, ``bbox``, ``annotation_id`` for COCO); size: (height, width) when the
    file states it.
    """

    file_name: str
    keypoints: np.ndarray
    people: dict[str, np.ndarray] = field(default_factory=dict)
    size: tuple[int, int] | None = None


def _load_json(path: Path) -> object:
    import json

    if not path.is_file():
        raise DataError(path, "keypoint json does not exist")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, ValueError) as e:
        raise DataError(path, f"unreadable json: {e}") from None


def _finite_numbers(values: object, count: int) -> np.ndarray | None:
    """``values`` as a float array of ``count`` finite numbers, or None if it is not one."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if arr.size != count or not np.isfinite(arr).all():
        return None
    return arr


def scan_mpii_json(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> tuple[list[ImagePoses], list[DataError]]:
    """The mmpose-style MPII json ``[{"image", "joints", "joints_vis", "center", "scale"}, ...]``.

    One entry per person; people of the same image are grouped into one :class:`ImagePoses`
    (in order of first appearance). MPII's coordinates are MATLAB's 1-based ones, so one is
    subtracted to get 0-based pixels (the same shift mmpose applies). ``joints_vis`` = 0 marks
    a joint that is not annotated (MISSING); 1 an annotated one, taken as VISIBLE because the
    file does not tell visible from occluded. Malformed entries are collected as errors.
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a list of person entries, found a json {type(data).__name__}")
    errors: list[DataError] = []
    grouped: dict[str, dict[str, list]] = {}
    for index, entry in enumerate(data):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            errors.append(DataError(path, f"{where}: not an object"))
            continue
        missing_keys = [k for k in ("image", "joints", "joints_vis") if k not in entry]
        if missing_keys:
            errors.append(DataError(path, f"{where}: lacks {missing_keys}"))
            continue
        image = entry["image"]
        if not isinstance(image, str) or not image:
            errors.append(DataError(path, f"{where}: image name {image!r} is not a non-empty string"))
            continue
        joints = _finite_numbers(entry["joints"], 2 * num_joints)
        if joints is None:
            errors.append(DataError(path, f"{where} ({image}): joints must be {num_joints} finite (x, y) pairs"))
            continue
        vis = _finite_numbers(entry["joints_vis"], num_joints)
        if vis is None or not np.isin(vis, (0, 1)).all():
            errors.append(DataError(path, f"{where} ({image}): joints_vis must be {num_joints} flags of 0 or 1"))
            continue
        center = _finite_numbers(entry.get("center", [np.nan, np.nan]), 2)
        scale = _finite_numbers([entry.get("scale", np.nan)], 1)
        if ("center" in entry and center is None) or ("scale" in entry and scale is None):
            errors.append(DataError(path, f"{where} ({image}): center must be two numbers and scale one number"))
            continue
        kp = np.full((num_joints, 3), np.nan, dtype=np.float32)
        xy = joints.reshape(num_joints, 2) - 1.0  # 1-based MATLAB pixels -> 0-based
        annotated = vis == 1
        kp[annotated, :2] = xy[annotated]
        kp[:, 2] = np.where(annotated, VISIBLE, MISSING)
        person = grouped.setdefault(image, {"keypoints": [], "center": [], "scale": []})
        person["keypoints"].append(kp)
        person["center"].append(center - 1.0 if center is not None else np.array([np.nan, np.nan]))
        person["scale"].append(scale[0] if scale is not None else np.nan)
    images = [
        ImagePoses(
            file_name=name,
            keypoints=np.stack(p["keypoints"]),
            people={
                "center": np.asarray(p["center"], dtype=np.float32),
                "scale": np.asarray(p["scale"], dtype=np.float32),
            },
        )
        for name, p in grouped.items()
    ]
    return images, errors


def scan_coco_keypoints_json(path: str | Path) -> tuple[list[ImagePoses], int, list[DataError]]:
    """A COCO keypoint json: one :class:`ImagePoses` per listed image, with its people.

    Returns (images, number of joints, errors). The joint count comes from the person
    category's ``keypoints`` names, or else from the first annotation. COCO's flag maps
    directly: 0 -> MISSING (x, y set to NaN), 1 -> OCCLUDED, 2 -> VISIBLE. Crowd regions
    (``iscrowd`` = 1) are not people and are left out; annotations of other categories too.
    Images without people get (0, K, 3) keypoints.
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise DataError(path, "not a COCO keypoint json: expected an object with 'images' and 'annotations' lists")
    errors: list[DataError] = []
    person_ids: set = set()
    num_joints = 0
    for cat in data.get("categories") or []:
        if isinstance(cat, dict) and cat.get("name") == "person":
            person_ids.add(cat.get("id"))
            if isinstance(cat.get("keypoints"), list):
                num_joints = len(cat["keypoints"])
    if not num_joints:
        for ann in data["annotations"]:
            if isinstance(ann, dict) and isinstance(ann.get("keypoints"), list) and ann["keypoints"]:
                num_joints = len(ann["keypoints"]) // 3
                break
    if not num_joints:
        raise DataError(path, "cannot tell the number of joints: no person category with keypoint names and no keypoints")

    by_id: dict[object, dict] = {}
    for index, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            errors.append(DataError(path, f"images[{index}]: needs an 'id' and a 'file_name'"))
            continue
        if img["id"] in by_id:
            errors.append(DataError(path, f"images[{index}]: image id {img['id']!r} appears twice"))
            continue
        size = None
        if isinstance(img.get("height"), int) and isinstance(img.get("width"), int):
            size = (img["height"], img["width"])
        by_id[img["id"]] = {"file_name": img["file_name"], "size": size, "kp": [], "bbox": [], "ann_id": []}

    for index, ann in enumerate(data["annotations"]):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            errors.append(DataError(path, f"{where}: not an object"))
            continue
        if person_ids and ann.get("category_id") not in person_ids:
            continue
        if ann.get("iscrowd", 0):
            continue
        image = by_id.get(ann.get("image_id"))
        if image is None:
            errors.append(DataError(path, f"{where}: image_id {ann.get('image_id')!r} is not among the images"))
            continue
        values = _finite_numbers(ann.get("keypoints"), 3 * num_joints)
        if values is None:
            errors.append(
                DataError(path, f"{where} (image {image['file_name']}): keypoints must be {3 * num_joints} numbers")
            )
            continue
        triples = values.reshape(num_joints, 3)
        flags = triples[:, 2]
        if not np.isin(flags, (0, 1, 2)).all():
            errors.append(
                DataError(path, f"{where} (image {image['file_name']}): visibility flags must be 0, 1 or 2, found {sorted(set(flags.tolist()))}")
            )
            continue
        kp = triples.astype(np.float32)
        kp[flags == 0, :2] = np.nan
        # COCO's flags are the Sample flags: MISSING=0, OCCLUDED=1, VISIBLE=2.
        kp[:, 2] = np.select([flags == 0, flags == 1], [MISSING, OCCLUDED], VISIBLE)
        bbox = _finite_numbers(ann.get("bbox", [np.nan] * 4), 4) if "bbox" in ann else np.full(4, np.nan)
        if bbox is None:
            errors.append(DataError(path, f"{where} (image {image['file_name']}): bbox must be four numbers"))
            continue
        image["kp"].append(kp)
        image["bbox"].append(bbox)
        image["ann_id"].append(ann.get("id", -1))

    images = []
    for image in by_id.values():
        kp = np.stack(image["kp"]) if image["kp"] else np.zeros((0, num_joints, 3), dtype=np.float32)
        images.append(
            ImagePoses(
                file_name=image["file_name"],
                keypoints=kp,
                people={
                    "bbox": np.asarray(image["bbox"], dtype=np.float32).reshape(-1, 4),
                    "annotation_id": np.asarray(image["ann_id"], dtype=np.int64),
                },
                size=image["size"],
            )
        )
    return images, num_joints, errors
