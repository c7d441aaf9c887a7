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

from pathlib import Path
from typing import Any

import numpy as np

from ...schemas import LabelSchema, get_joint_schema
from ..image_io import DataError
from ..pose_files import LIP_NUM_JOINTS, scan_lip_pose_csv
from ..sample import missing_keypoints
from .base import FolderLayoutReader, SplitLayout, Entry, find_dir, find_file, id_from_token


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
        scan = scan_lip_pose_csv(pose_csv, LIP_NUM_JOINTS)
        for error in scan.errors:
            self._problem(error)
        poses: dict[str, np.ndarray] = {}
        for name, keypoints in scan.rows.items():
            stem = id_from_token(name)
            if stem not in images:
                self._problem(
                    DataError(pose_csv, f"line {scan.lines[name]}: image {name!r} is not in {layout.image_dir}")
                )
                continue
            poses[stem] = keypoints
        self._poses[layout_index] = poses
        self.joint_schema = get_joint_schema("lip")

    def _keypoints(self, entry: Entry) -> np.ndarray | None:
        poses = self._poses.get(entry.layout)
        if poses is None:
            return None
        row = poses.get(entry.id)
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


