"""Clothing Co-Parsing (CCP): 59 clothing classes, labels as .mat or PNG.

Layouts: upstream ``photos/*.jpg`` + ``annotations/pixel-level/*.mat`` (key
``groundtruth``, uint8) -- the .mat files define the samples, since most photos are
unlabelled; or ``images/NNNN.jpg`` + ``labels/NNNN.png``. CCP has no official split;
``{split}_id.txt`` lists in the root define one, or ``id_list`` names a list file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..image_io import DEFAULT_MAX_PIXELS, DataError, check_label_values, check_pixel_count
from .base import FolderLayoutReader, load_mat, mat_shapes, SplitLayout, find_dir, flat_layout, splits_with_id_lists

MAT_LABEL_KEY = "groundtruth"


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
