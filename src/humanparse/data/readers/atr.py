"""ATR: single-person fashion parsing, 18 classes.

Public copies come as ``[humanparsing/]JPEGImages/`` + ``SegmentationClassAug/`` (no
official split; ``{split}_id.txt`` or ``{split}.txt`` lists in the root or ``list/``
define one), as LIP's common layout ``{split}_images/`` + ``{split}_segmentations/``, or
as a flat ``images/`` + ``labels/``.
"""

from __future__ import annotations

from pathlib import Path

from ..image_io import DataError
from .base import FolderLayoutReader, SplitLayout, find_dir, find_file, flat_layout, order_splits, splits_with_id_lists


def _base(root: Path) -> Path:
    return find_dir(root, "humanparsing") or root


def _split_folders(base: Path) -> list[str | None]:
    """Splits of the ``{split}_images`` layout."""
    names = {p.name[: -len("_images")].lower() for p in base.iterdir() if p.is_dir() and p.name.lower().endswith("_images")}
    return order_splits(names)


class ATRReader(FolderLayoutReader):
    format_name = "atr"
    default_schema = "atr"
    layout_hint = (
        "JPEGImages/ + SegmentationClassAug/ (optionally inside humanparsing/), "
        "{split}_images/ + {split}_segmentations/, or images/ + labels/"
    )

    @classmethod
    def _flat_dirs(cls, base: Path) -> tuple[Path | None, Path | None]:
        image_dir = find_dir(base, "JPEGImages", "images")
        label_dir = find_dir(base, "SegmentationClassAug", "SegmentationClass", "labels")
        return image_dir, label_dir

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        base = _base(Path(root))
        if not base.is_dir():
            raise DataError(root, "dataset root is not a folder")
        if cls._flat_dirs(base)[0] is not None:
            return splits_with_id_lists([base, base / "list"]) or [None]
        return _split_folders(base)

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        base = _base(root)
        image_dir, label_dir = cls._flat_dirs(base)
        if image_dir is not None:
            return flat_layout(root, split, image_dir, label_dir, [base, base / "list"])
        image_dir = find_dir(base, f"{split}_images") if split else None
        if image_dir is None:
            raise DataError(root, f"ATR split {split!r} not found; expected {cls.layout_hint}")
        label_dir = find_dir(base, f"{split}_segmentations")
        return SplitLayout(split, image_dir, label_dir, find_file(base, f"{split}_id.txt"), labels_required=split != "test")
