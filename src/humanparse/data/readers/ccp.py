"""Clothing Co-Parsing (CCP): 59 clothing classes, labels as .mat or PNG.

Layouts: upstream ``photos/*.jpg`` + ``annotations/pixel-level/*.mat`` (key
``groundtruth``, uint8) -- the .mat files define the samples, since most photos are
unlabelled; or ``images/NNNN.jpg`` + ``labels/NNNN.png``. CCP has no official split;
``{split}_id.txt`` lists in the root define one, or ``id_list`` names a list file.

Split ``unlabeled``: the photos without pixel labels in ``unlabeled_images/`` beside
``images/``, loaded with ``label=None``; it is read only when named, never as part of every
split.

CCP has no joint annotations. ``keypoints=PATH`` names a LIP pose CSV (``name, x1, y1, v1,
..., x16, y16, v16``, names ``0001.jpg`` or ``0001``) of joints found for its photos, e.g. by a
pose detector: every sample then gets (1, 16, 3) keypoints in LIP's joint schema, a photo
without a row all joints MISSING (as LIP's reader does). They are a teacher's targets, not hand
labels, and ``keypoints_origin`` says so wherever they are scored against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...schemas import LabelSchema, get_joint_schema
from ..image_io import DEFAULT_MAX_PIXELS, DataError, check_label_values, check_pixel_count
from .base import (
    Entry, FolderLayoutReader, SplitLayout, find_dir, flat_layout, load_mat, mat_shapes, splits_with_id_lists,
)
from .lip import one_person_keypoints, pose_rows_by_id

MAT_LABEL_KEY = "groundtruth"
UNLABELED_SPLIT = "unlabeled"
UNLABELED_DIR = "unlabeled_images"


def read_mat_label(path: Path, num_classes: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The (H, W) uint8 class map stored under ``groundtruth`` in a CCP .mat file; one over
    ``max_pixels`` (None: no limit) is refused from the variable's header, before it is read."""
    shapes = mat_shapes(path) if path.is_file() else {}
    if len(shapes.get(MAT_LABEL_KEY, ())) == 2:
        height, width = shapes[MAT_LABEL_KEY]
        check_pixel_count(path, int(height), int(width), max_pixels, "label")
    mat = load_mat(path)
    if MAT_LABEL_KEY not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(path, f"label .mat lacks {MAT_LABEL_KEY!r} (found {keys})")
    raw = np.asarray(mat[MAT_LABEL_KEY])
    if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.integer):
        raise DataError(path, f"{MAT_LABEL_KEY!r} must be a 2-D integer array, found {raw.shape} {raw.dtype}")
    if raw.size and (raw.min() < 0 or raw.max() > 255):
        raise DataError(path, f"label values {raw.min()}..{raw.max()} do not fit class ids 0..255")
    label = np.ascontiguousarray(raw, dtype=np.uint8)
    check_label_values(label, num_classes, path)
    return label


def _layout_dirs(root: Path) -> tuple[Path | None, Path | None, bool]:
    """(image folder, label folder, whether labels are .mat)."""
    photos = find_dir(root, "photos")
    mats = find_dir(root, "annotations/pixel-level")
    if photos is not None and mats is not None:
        return photos, mats, True
    return find_dir(root, "images"), find_dir(root, "labels"), False


class CCPReader(FolderLayoutReader):
    format_name = "ccp"
    default_schema = "ccp"
    layout_hint = "photos/ + annotations/pixel-level/*.mat (upstream), or images/*.jpg + labels/*.png"
    takes_keypoints_file = True

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        schema: str | LabelSchema | None = None,
        *,
        keypoints: str | Path | None = None,
        **options: Any,
    ) -> None:
        """``keypoints``: a LIP pose CSV of joints for the photos (not CCP's own annotations)."""
        self._keypoints_csv = Path(keypoints) if keypoints is not None else None
        self._poses: dict[int, dict[str, np.ndarray]] = {}
        super().__init__(root, split, schema, **options)
        if self._keypoints_csv is not None:
            self.joint_schema = get_joint_schema("lip")
            self.keypoints_origin = (
                f"{self._keypoints_csv} (joints found for the photos, not hand labels: a teacher's targets)"
            )

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset root is not a folder")
        if _layout_dirs(root)[0] is None:
            return []
        return splits_with_id_lists([root]) or [None]

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        if split == UNLABELED_SPLIT:
            unlabeled = find_dir(root, UNLABELED_DIR)
            if unlabeled is None:
                raise DataError(
                    root, f"no {UNLABELED_DIR}/ folder for the {UNLABELED_SPLIT!r} split (the photos without labels)"
                )
            return SplitLayout(split, unlabeled, None, labels_required=False)
        image_dir, label_dir, is_mat = _layout_dirs(root)
        if image_dir is None:
            raise DataError(root, f"no CCP images found; expected {cls.layout_hint}")
        if is_mat:
            return flat_layout(root, split, image_dir, label_dir, [root], label_suffix=".mat", ids_from_labels=True)
        return flat_layout(root, split, image_dir, label_dir, [root])

    def _read_label(self, path: Path) -> np.ndarray:
        if path.suffix.lower() == ".mat":
            assert self.schema is not None
            return read_mat_label(path, self.schema.num_classes, self.max_pixels)
        return super()._read_label(path)

    def _index_extras(self, layout_index: int, layout: SplitLayout, images: dict[str, Path]) -> None:
        if self._keypoints_csv is not None:
            self._poses[layout_index] = pose_rows_by_id(self._keypoints_csv, images, layout.image_dir, self._problem)

    def _keypoints(self, entry: Entry) -> np.ndarray | None:
        return one_person_keypoints(self._poses.get(entry.layout), entry.id)
