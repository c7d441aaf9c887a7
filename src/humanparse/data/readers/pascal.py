"""PASCAL-Person-Part: multi-person part labels, ids 0..6.

Layouts: ``JPEGImages/`` with label PNGs in ``SegmentationPart/`` (Graphonomy's copy) or
``pascal_person_part_gt/`` (DeepLab's), or a flat ``images/`` + ``labels/``; splits are id
lists ``{split}_id.txt`` / ``{split}.txt`` in the root, ``list/`` or
``pascal_person_part_trainval_list/`` (lines may be ``/JPEGImages/x.jpg /Seg.../x.png``).
"""

from __future__ import annotations

from pathlib import Path

from ..image_io import DataError
from .base import FolderLayoutReader, SplitLayout, find_dir, flat_layout, splits_with_id_lists


def _list_dirs(root: Path) -> list[Path]:
    return [root, root / "list", root / "pascal_person_part_trainval_list"]


class PascalPersonPartReader(FolderLayoutReader):
    format_name = "pascal_person_part"
    default_schema = "pascal_person_part"
    layout_hint = (
        "JPEGImages/ + SegmentationPart/ (or pascal_person_part_gt/), or images/ + labels/, "
        "with {split}_id.txt lists"
    )

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset root is not a folder")
        if find_dir(root, "JPEGImages", "images") is None:
            return []
        return splits_with_id_lists(_list_dirs(root)) or [None]

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        image_dir = find_dir(root, "JPEGImages", "images")
        if image_dir is None:
            raise DataError(root, f"no PASCAL-Person-Part images found; expected {cls.layout_hint}")
        label_dir = find_dir(root, "SegmentationPart", "pascal_person_part_gt", "labels")
        return flat_layout(root, split, image_dir, label_dir, _list_dirs(root))
