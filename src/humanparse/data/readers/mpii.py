"""MPII Human Pose: 16 joints per person, no parsing labels.

Two readers: :class:`MPIIReader` yields Samples from the mmpose-style json
(``[{"image", "joints", "joints_vis", "center", "scale"}]``) with an image folder, as
``annotations/mpii_{split}.json`` + ``images/`` or a json file next to its images;
:class:`MPIIAnnotationReader` lists the people of the ground-truth .mat
(``pos_gt_src``, ``jnt_missing``, ``headboxes_src``), which names no images.

The json has no head boxes, which PCKh needs; the ground-truth .mat lists the same people in
the same order (``mpii_gt_{split}.mat`` beside the json in mmpose's layout, or given as
``headboxes=``), so :class:`MPIIReader` takes each person's head box from it, after checking
that the person's joints there are the json's.

Each person also gets the box a top-down model looks at (``meta["box"]``), by the convention
of the MPII pose literature (Newell et al.'s hourglass code, mmpose): ``scale`` is the person's
height over 200 px; the box is a square of side 200 x scale x 1.25 about ``center`` moved down
by 15 x scale px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...schemas import JointSchema
from ..image_io import DEFAULT_MAX_PIXELS, DataError
from ..sample import MISSING, VISIBLE
from .base import load_mat, mat_numbers, shorten
from .keypoint_json import (
    FieldProblem, ImagePoses, JsonSplit, KeypointJsonReader, describe, finite_numbers, image_dir_for, json_name,
    json_number, load_json,
)

MPII_NUM_JOINTS = 16

# The top-down box of a person (see the module's docstring).
MPII_SCALE_PIXELS = 200.0
MPII_BOX_MARGIN = 1.25
MPII_CENTRE_DROP = 15.0
# Joints of the json and the .mat that are the same person agree to float rounding.
HEADBOX_MATCH_PIXELS = 1.0


def mpii_person_boxes(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(P, 4) boxes (x0, y0, x1, y1, outer pixel edges) from MPII's (P, 2) centres (0-based
    pixels) and (P,) scales; NaN where either is missing."""
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    half = MPII_SCALE_PIXELS * MPII_BOX_MARGIN * scale / 2
    cx, cy = center[:, 0], center[:, 1] + MPII_CENTRE_DROP * scale
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


class MPIIReader(KeypointJsonReader):
    format_name = "mpii"
    default_schema = "mpii"
    layout_hint = "annotations/mpii_{split}.json + images/, or a json file beside its images"

    annotation_prefix = "mpii_"

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        schema: str | JointSchema | None = None,
        *,
        strict: bool = True,
        image_dir: str | Path | None = None,
        headboxes: str | Path | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        """``headboxes``: the ground-truth .mat whose head boxes the json's people get (default:
        ``mpii_gt_{split}.mat`` beside the json, when it is there)."""
        super().__init__(root, split, schema, strict=strict, image_dir=image_dir, max_pixels=max_pixels)
        if headboxes is not None and len(self.parts) != 1:
            raise DataError(self.root, f"headboxes= belongs to one split; name it (found {[p.split for p in self.parts]})")
        for index, part in enumerate(self.parts):
            mat = Path(headboxes) if headboxes is not None else part.json_path.parent / f"mpii_gt_{part.split}.mat"
            if headboxes is not None or mat.is_file():
                self._attach_headboxes(index, mat)

    def _attach_headboxes(self, part_index: int, mat: Path) -> None:
        """Each person of split ``part_index`` gets the head box of the same person of ``mat``
        (0-based, as the joints); a problem where the two files disagree on who that is."""
        json_path = self.parts[part_index].json_path
        truth = MPIIAnnotationReader(mat)
        images = [poses for i, poses in self._entries if i == part_index]
        count = sum(len(p.keypoints) for p in images)
        if count > len(truth):
            self._problem(DataError(json_path, f"lists {count} people but {mat} has {len(truth)}: not the same people"))
            return
        for poses in images:
            entries = poses.people["entry"]
            for person, entry in enumerate(entries):
                problem = _same_person(poses.keypoints[person], truth.keypoints[entry])
                if problem is not None:
                    self._problem(DataError(
                        json_path,
                        f"entry {entry} ({poses.file_name}): {problem} person {entry} of {mat}; the json and the "
                        "ground truth must list the same people in the same order",
                    ))
                    return
            poses.people["headbox"] = truth.headboxes[entries].copy()

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


def _same_person(a: np.ndarray, b: np.ndarray) -> str | None:
    """None if the (K, 3) keypoints ``a`` and ``b`` annotate the same joints at the same pixels,
    else how they differ (the start of a sentence ending in the other's name)."""
    annotated_a, annotated_b = a[:, 2] != MISSING, b[:, 2] != MISSING
    if a.shape != b.shape or not np.array_equal(annotated_a, annotated_b):
        return "its annotated joints are not those of"
    if annotated_a.any():
        distance = float(np.abs(a[annotated_a, :2] - b[annotated_a, :2]).max())
        if distance > HEADBOX_MATCH_PIXELS:
            return f"its joints lie up to {distance:.1f} px from those of"
    return None


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


# --------------------------------------------------------------------------- annotation files


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


def read_mpii_gt_mat(path: str | Path) -> MPIIAnnotations:
    """The ground truth (and predictions, if any) of an MPII evaluation .mat."""
    path = Path(path)
    mat = load_mat(path)
    for key in ("pos_gt_src", "jnt_missing", "headboxes_src"):
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(path, f"MPII ground truth lacks {key!r} (found {found})")
    gt = mat_numbers(mat, "pos_gt_src", path)
    missing = mat_numbers(mat, "jnt_missing", path, allow_logical=True)
    boxes = mat_numbers(mat, "headboxes_src", path)
    if gt.ndim != 3 or gt.shape[1] != 2:
        raise DataError(path, f"pos_gt_src has shape {gt.shape}, expected (16, 2, N)")
    n = gt.shape[2]
    if missing.shape != (gt.shape[0], n) or boxes.shape != (2, 2, n):
        raise DataError(
            path, f"jnt_missing {missing.shape} / headboxes_src {boxes.shape} do not match pos_gt_src {gt.shape}"
        )
    if not np.isin(missing, (0, 1)).all():
        others = np.unique(missing[~np.isin(missing, (0, 1))])
        raise DataError(path, f"jnt_missing must hold 0 or 1, found {others[:5].tolist()}")
    pred = None
    if "pos_pred_src" in mat:
        p = mat_numbers(mat, "pos_pred_src", path)
        if p.shape != gt.shape:
            raise DataError(path, f"pos_pred_src has shape {p.shape}, expected {gt.shape}")
        pred = p.transpose(2, 0, 1)
    return MPIIAnnotations(
        gt=gt.transpose(2, 0, 1),
        missing=missing.T.astype(bool),
        headboxes=boxes.transpose(2, 0, 1),
        predictions=pred,
    )


def scan_mpii_json(path: str | Path, num_joints: int = MPII_NUM_JOINTS) -> tuple[list[ImagePoses], list[DataError]]:
    """The mmpose-style MPII json ``[{"image", "joints", "joints_vis", "center", "scale"}, ...]``.

    One entry per person; people of the same image are grouped into one :class:`ImagePoses`
    (in order of first appearance). MPII's coordinates are MATLAB's 1-based ones, so one is
    subtracted to get 0-based pixels (the same shift mmpose applies). ``joints_vis`` = 0 marks
    a joint that is not annotated (MISSING); 1 an annotated one, taken as VISIBLE because the
    file does not tell visible from occluded. Per person, ``people`` holds ``center``,
    ``scale``, the top-down ``box`` (:func:`mpii_person_boxes`) and ``entry``, its position in
    the file. Malformed entries are collected as errors.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a list of person entries, found {describe(data)}")
    errors: list[DataError] = []
    grouped: dict[str, dict[str, list]] = {}
    for index, entry in enumerate(data):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            errors.append(DataError(path, f"{where}: not an object, but {describe(entry)}"))
            continue
        missing_keys = [k for k in ("image", "joints", "joints_vis") if k not in entry]
        if missing_keys:
            errors.append(DataError(path, f"{where}: lacks {missing_keys}"))
            continue
        try:
            image = json_name(entry["image"], "image")
            where += f" ({shorten(image)})"
            joints = finite_numbers(entry["joints"], 2 * num_joints, "joints", f"{num_joints} [x, y] pairs")
            vis = finite_numbers(entry["joints_vis"], num_joints, "joints_vis", f"{num_joints} flags of 0 or 1")
            if not np.isin(vis, (0, 1)).all():
                others = sorted(set(vis.tolist()) - {0, 1})
                raise FieldProblem(f"'joints_vis': flags must be 0 or 1, found {others[:5]}")
            center = finite_numbers(entry["center"], 2, "center", "[x, y]") if "center" in entry else None
            scale = json_number(entry["scale"], "scale") if "scale" in entry else np.nan
            if not scale > 0 and not np.isnan(scale):
                raise FieldProblem(f"'scale': expected a positive number, got {entry['scale']!r}")
        except FieldProblem as e:
            errors.append(DataError(path, f"{where}, {e}"))
            continue
        kp = np.full((num_joints, 3), np.nan, dtype=np.float32)
        xy = joints.reshape(num_joints, 2) - 1.0  # 1-based MATLAB pixels -> 0-based
        annotated = vis == 1
        kp[annotated, :2] = xy[annotated]
        kp[:, 2] = np.where(annotated, VISIBLE, MISSING)
        person = grouped.setdefault(image, {"keypoints": [], "center": [], "scale": [], "entry": []})
        person["keypoints"].append(kp)
        person["entry"].append(index)
        person["center"].append(center - 1.0 if center is not None else np.array([np.nan, np.nan]))
        person["scale"].append(scale)
    images = [
        ImagePoses(
            file_name=name,
            keypoints=np.stack(p["keypoints"]),
            people={
                "center": np.asarray(p["center"], dtype=np.float32),
                "scale": np.asarray(p["scale"], dtype=np.float32),
                "box": mpii_person_boxes(p["center"], p["scale"]),
                "entry": np.asarray(p["entry"], dtype=np.int64),
            },
        )
        for name, p in grouped.items()
    ]
    return images, errors
