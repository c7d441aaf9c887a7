"""CIHP: multi-person parsing in LIP's classes (10 = Torso-skin).

Layouts: the official ``[instance-level_human_parsing/]{Training,Validation,Testing}/``
with ``Images/``, ``Category_ids/`` and ``{train,val,test}_id.txt``; or a flat
``images/`` + ``labels/`` with ``{split}_id.txt`` lists (in the root or ``list/``), as
the CIHP_PGN code ships its examples.
"""

from __future__ import annotations

from pathlib import Path

from ..image_io import DataError
from .base import FolderLayoutReader, SplitLayout, find_dir, find_file, flat_layout, splits_with_id_lists

_OFFICIAL_FOLDERS = {"train": "Training", "val": "Validation", "test": "Testing"}


def _base(root: Path) -> Path:
    return find_dir(root, "instance-level_human_parsing") or root


def _is_official(base: Path) -> bool:
    return any(find_dir(base, folder) is not None for folder in _OFFICIAL_FOLDERS.values())


class CIHPReader(FolderLayoutReader):
    format_name = "cihp"
    default_schema = "cihp"
    layout_hint = (
        "{Training,Validation,Testing}/Images + Category_ids (official), "
        "or images/ + labels/ with {split}_id.txt"
    )

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        base = _base(Path(root))
        if not base.is_dir():
            raise DataError(root, "dataset root is not a folder")
        if _is_official(base):
            return [s for s, folder in _OFFICIAL_FOLDERS.items() if find_dir(base, f"{folder}/Images")]
        if find_dir(base, "images") is None:
            return []
        return splits_with_id_lists([base, base / "list"]) or [None]

    @classmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        base = _base(root)
        if _is_official(base):
            folder = _OFFICIAL_FOLDERS.get(split or "")
            image_dir = find_dir(base, f"{folder}/Images") if folder else None
            if image_dir is None:
                raise DataError(root, f"CIHP split {split!r} not found; expected {cls.layout_hint}")
            label_dir = find_dir(base, f"{folder}/Category_ids")
            id_list = find_file(base, f"{folder}/{split}_id.txt")
            return SplitLayout(split, image_dir, label_dir, id_list, labels_required=split != "test")
        image_dir = find_dir(base, "images")
        if image_dir is None:
            raise DataError(root, f"no CIHP images found; expected {cls.layout_hint}")
        return flat_layout(root, split, image_dir, find_dir(base, "labels"), [base, base / "list"])
