"""LIP: single-person parsing with 16 joints per image.

Two folder layouts are accepted:

- official: ``TrainVal_images/{train,val}_images/*.jpg``,
  ``TrainVal_parsing_annotations/{train,val}_segmentations/*.png``,
  ``TrainVal_pose_annotations/lip_{train,val}_set.csv`` (id lists
  ``TrainVal_images/{split}_id.txt`` when present); test: ``Testing_images/testing_images``;
- common: ``{split}_images/``, ``{split}_segmentations/``, ``{split}_id.txt`` and
  ``lip_{split}_set.csv`` in the root.

With a pose CSV, every sample gets (1, 16, 3) keypoints; an image without a CSV row gets
all joints MISSING, so batches still stack.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ...schemas import LabelSchema, get_joint_schema
from ..image_io import DataError
from ..sample import MISSING, OCCLUDED, VISIBLE, missing_keypoints
from .base import (
    MAX_MAGNITUDE, Entry, FolderLayoutReader, SplitLayout, find_dir, find_file, id_from_token, name_problem,
    read_text_file, shorten,
)

LIP_NUM_JOINTS = 16


class LIPReader(FolderLayoutReader):
    format_name = "lip"
    default_schema = "lip"
    layout_hint = (
        "TrainVal_images/{split}_images + TrainVal_parsing_annotations/{split}_segmentations (official), "
        "or {split}_images + {split}_segmentations (+ {split}_id.txt)"
    )

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        schema: str | LabelSchema | None = None,
        *,
        pose_csv: str | Path | None = None,
        **options: Any,
    ) -> None:
        """``pose_csv`` names the split's pose CSV when it is not where the layout puts it."""
        if pose_csv is not None and split is None:
            raise ValueError("an explicit pose_csv needs a split")
        self._pose_override = Path(pose_csv) if pose_csv is not None else None
        self._poses: dict[int, dict[str, np.ndarray]] = {}
        super().__init__(root, split, schema, **options)

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset root is not a folder")
        found: list[str | None] = [s for s in ("train", "val") if _image_dir(root, s) is not None]
        if _test_dir(root) is not None:
            found.append("test")
        return found

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        if split is None:
            raise DataError(root, "LIP has splits (train, val, test); name one or read all splits")
        if split == "test":
            test_dir = _test_dir(root)
            if test_dir is None:
                raise DataError(root, "LIP test split not found (Testing_images/testing_images or test_images)")
            id_list = find_file(root, "Testing_images/test_id.txt", "test_id.txt")
            return SplitLayout("test", test_dir, None, id_list, labels_required=False)
        image_dir = _image_dir(root, split)
        if image_dir is None:
            raise DataError(root, f"LIP split {split!r} not found; expected {cls.layout_hint}")
        label_dir = find_dir(
            root,
            f"TrainVal_parsing_annotations/{split}_segmentations",
            f"TrainVal_parsing_annotations/TrainVal_parsing_annotations/{split}_segmentations",
            f"{split}_segmentations",
        )
        id_list = find_file(root, f"TrainVal_images/{split}_id.txt", f"{split}_id.txt")
        pose_csv = find_file(
            root, f"TrainVal_pose_annotations/lip_{split}_set.csv", f"lip_{split}_set.csv"
        )
        return SplitLayout(split, image_dir, label_dir, id_list, pose_csv=pose_csv)

    def _index_extras(self, layout_index: int, layout: SplitLayout, images: dict[str, Path]) -> None:
        pose_csv = self._pose_override or layout.pose_csv
        if pose_csv is None:
            return
        self._poses[layout_index] = pose_rows_by_id(pose_csv, images, layout.image_dir, self._problem)
        self.joint_schema = get_joint_schema("lip")

    def _keypoints(self, entry: Entry) -> np.ndarray | None:
        return one_person_keypoints(self._poses.get(entry.layout), entry.id)


def pose_rows_by_id(
    pose_csv: Path, images: dict[str, Path], image_dir: Path, problem: Callable[[DataError], None]
) -> dict[str, np.ndarray]:
    """Sample id -> (16, 3) keypoints of a LIP pose CSV whose rows name images by file name or
    id (``0001.jpg`` or ``0001``); ``images`` are the ids of ``image_dir``. Each bad row, and each
    row naming an image not there, is passed to ``problem``."""
    scan = scan_lip_pose_csv(pose_csv, LIP_NUM_JOINTS)
    for error in scan.errors:
        problem(error)
    poses: dict[str, np.ndarray] = {}
    for name, keypoints in scan.rows.items():
        stem = id_from_token(name)
        if stem not in images:
            problem(DataError(pose_csv, f"line {scan.lines[name]}: image {shorten(name)!r} is not in {image_dir}"))
            continue
        if stem in poses:  # 0001.jpg and 0001 are one image
            problem(DataError(pose_csv, f"line {scan.lines[name]}: image {stem!r} has a second row"))
            continue
        poses[stem] = keypoints
    return poses


def one_person_keypoints(poses: dict[str, np.ndarray] | None, sample_id: str) -> np.ndarray | None:
    """(1, 16, 3) keypoints of a sample from :func:`pose_rows_by_id`'s rows: all joints MISSING
    when it has no row (so batches still stack), None when there is no pose CSV."""
    if poses is None:
        return None
    row = poses.get(sample_id)
    return row[None].copy() if row is not None else missing_keypoints(1, LIP_NUM_JOINTS)


def _image_dir(root: Path, split: str) -> Path | None:
    return find_dir(
        root,
        f"TrainVal_images/{split}_images",
        f"TrainVal_images/TrainVal_images/{split}_images",
        f"{split}_images",
    )


def _test_dir(root: Path) -> Path | None:
    return find_dir(root, "Testing_images/testing_images", "Testing_images", "test_images")


# --------------------------------------------------------------------------- the pose CSV


def csv_number(text: str, path: Path, line: int, column: int) -> float:
    """One CSV field as a float (``nan`` allowed; infinities and magnitudes beyond
    ±MAX_MAGNITUDE not), or a DataError naming the cell."""
    cell = f"line {line}, column {column + 1}: keypoint value {shorten(text, 40)!r}"
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"{cell} is not a number") from None
    if math.isinf(value):
        raise DataError(path, f"{cell} is infinite")
    if abs(value) > MAX_MAGNITUDE:
        raise DataError(path, f"{cell} is beyond ±{MAX_MAGNITUDE:g}")
    return value


def csv_image_name(row: list[str], path: Path, line: int) -> str:
    """The image name in the first column of a row, or a DataError saying why it is none."""
    problem = name_problem(row[0])
    if problem is not None:
        raise DataError(path, f"line {line}: image name {problem}")
    return row[0]


def parse_lip_pose_row(
    row: list[str], path: Path, line: int, num_joints: int = LIP_NUM_JOINTS
) -> tuple[str, np.ndarray]:
    """One CSV row ``name, x1, y1, v1, ..., xK, yK, vK`` -> (name, (K, 3) keypoints).

    LIP's flag is 0/1 and unreliable; we read 1 as occluded, 0 as visible, and a joint
    whose x or y is ``nan`` as missing; any other flag is an error.
    """
    row = [c.strip() for c in row]
    if len(row) != 1 + 3 * num_joints:
        raise DataError(
            path,
            f"line {line}: expected {1 + 3 * num_joints} columns (name + {num_joints} x (x, y, v)), found {len(row)}",
        )
    name = csv_image_name(row, path, line)
    values = np.array([csv_number(t, path, line, i + 1) for i, t in enumerate(row[1:])], dtype=np.float64)
    values = values.reshape(num_joints, 3)
    kp = np.full((num_joints, 3), np.nan, dtype=np.float32)
    for j, (x, y, v) in enumerate(values):
        if np.isnan(x) or np.isnan(y):
            kp[j, 2] = MISSING
            continue
        if v not in (0, 1):
            raise DataError(path, f"line {line}, column {3 * j + 4}: visibility flag {row[3 * j + 3]!r} must be 0 or 1")
        kp[j, 0], kp[j, 1] = x, y
        kp[j, 2] = OCCLUDED if v == 1 else VISIBLE
    return name, kp


# A keypoint row is a name and a few dozen numbers; a line far longer (a million cells) would
# only cost memory to split before its length were found wrong.
MAX_CSV_LINE = 1 << 20


def csv_rows(path: str | Path, what: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row of a UTF-8 CSV file. A missing, non-UTF-8
    or malformed file (a field over csv's size limit, a line over MAX_CSV_LINE characters, ...)
    is a DataError naming it and the line."""
    path = Path(path)

    def bounded_lines() -> Iterator[str]:
        for number, line in enumerate(io.StringIO(read_text_file(path, what), newline=""), start=1):
            if len(line) > MAX_CSV_LINE:
                raise DataError(path, f"line {number} is {len(line)} characters long (at most {MAX_CSV_LINE})")
            yield line

    reader = csv.reader(bounded_lines())
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(path, f"line {reader.line_num}: unreadable {what}: {e}") from None
        if row and any(c.strip() for c in row):
            yield reader.line_num, row


def read_named_rows(
    path: str | Path, what: str, parse_row: Callable[[list[str], Path, int], tuple[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """{image name: value} from a CSV of one row per image, ``parse_row(row, path, line)``
    giving (name, value); blank rows are skipped. A missing file (``what`` names it), a bad
    row or a repeated name raises a DataError."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for line, row in csv_rows(path, what):
        name, value = parse_row(row, path, line)
        if name in out:
            raise DataError(path, f"line {line}: image {shorten(name)!r} appears twice")
        out[name] = value
    return out


def read_lip_pose_csv(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> dict[str, np.ndarray]:
    """Image name (as written, e.g. ``100034_483681.jpg``) -> (K, 3) keypoints."""
    return read_named_rows(path, "pose CSV", lambda row, p, line: parse_lip_pose_row(row, p, line, num_joints))


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

    A missing, undecodable or malformed file is still raised: there is nothing to scan.
    """
    path = Path(path)
    scan = PoseCsvScan(rows={}, lines={}, errors=[])
    for line, row in csv_rows(path, "pose CSV"):
        try:
            name, kp = parse_lip_pose_row(row, path, line, num_joints)
        except DataError as e:
            scan.errors.append(e)
            continue
        if name in scan.rows:
            scan.errors.append(
                DataError(
                    path, f"line {line}: image {shorten(name)!r} appears twice (first on line {scan.lines[name]})"
                )
            )
            continue
        scan.rows[name] = kp
        scan.lines[name] = line
    return scan
