"""A generic dataset: a folder of images and a folder of same-stem label PNGs.

``ROOT/images/`` (or the images directly in ``ROOT``) and ``ROOT/labels/``. Splits are
either sub-folders (``images/train/`` + ``labels/train/``) or id lists
``ROOT/{split}_id.txt``; without either the whole folder is one set. Without a label
folder the images load with ``label=None``. The format has no schema of its own.
"""

from __future__ import annotations

from pathlib import Path

from ..image_io import DataError
from .base import FolderLayoutReader, SplitLayout, find_dir, flat_layout, order_splits, splits_with_id_lists


def _image_root(root: Path) -> Path:
    return find_dir(root, "images") or root


def _split_subfolders(image_root: Path) -> list[str | None]:
    return order_splits({p.name for p in image_root.iterdir() if p.is_dir()}) if image_root.is_dir() else []


class FolderReader(FolderLayoutReader):
    format_name = "folder"
    default_schema = None
    layout_hint = "images/ (+ labels/ with same-stem PNGs), split sub-folders or {split}_id.txt lists optional"

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset root is not a folder")
        image_root = _image_root(root)
        if image_root != root:
            subfolders = _split_subfolders(image_root)
            if subfolders:
                return subfolders
        return splits_with_id_lists([root]) or [None]

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        image_root = _image_root(root)
        label_root = find_dir(root, "labels")
        if split is not None and image_root != root and (image_root / split).is_dir():
            label_dir = find_dir(label_root, split) if label_root is not None else None
            # A labels/ folder without this split's sub-folder is an error, not an unlabelled split.
            return SplitLayout(split, image_root / split, label_dir, labels_required=label_root is not None)
        return flat_layout(root, split, image_root, label_root, [root], labels_required=label_root is not None)
