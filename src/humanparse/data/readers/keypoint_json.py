"""Readers of keypoint-only datasets stored as an image folder and a json annotation file."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...schemas import JointSchema
from ..image_io import DEFAULT_MAX_PIXELS, DataError, read_image
from .base import Inspection, Reader, id_from_token, order_splits


@dataclass(frozen=True)
class JsonSplit:
    """One split: its annotation file and the folder its image names are relative to."""

    split: str | None
    json_path: Path
    image_dir: Path


def image_dir_for(json_path: Path, base: Path, image_dir: str | Path | None) -> Path:
    """An explicit image folder, else ``base/images`` when it exists, else the json's folder."""
    if image_dir is not None:
        return Path(image_dir)
    if (base / "images").is_dir():
        return base / "images"
    return json_path.parent


def jsons_in(folder: Path) -> dict[str, Path]:
    """Split name (the file stem) -> json file, for the json files directly in ``folder``."""
    return {p.stem: p for p in sorted(folder.glob("*.json")) if p.is_file()}


class KeypointJsonReader(Reader):
    """One :class:`Sample` per image, with (P, K, 3) keypoints for its P people."""

    pose_only = True
    # Official layouts keep split files as annotations/<annotation_prefix><split>.json.
    annotation_prefix = ""

    @classmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        root = Path(root)
        if root.is_file():
            return [None]
        if not root.is_dir():
            raise DataError(root, "dataset root does not exist")
        annotations = root / "annotations"
        prefix = cls.annotation_prefix
        if annotations.is_dir():
            return order_splits({p.stem[len(prefix):] for p in annotations.glob(f"{prefix}*.json")})
        return order_splits(set(jsons_in(root)))

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        schema: str | JointSchema | None = None,
        *,
        strict: bool = True,
        image_dir: str | Path | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        """``root`` is the json file or the dataset folder; ``image_dir`` overrides where
        images are looked up; ``schema`` names the joint schema."""
        super().__init__(root, split, strict=strict, max_pixels=max_pixels)
        self.joint_schema = self.resolve_schema(schema, self.root)
        splits = [split] if split is not None else self.find_splits(self.root)
        if not splits:
            raise DataError(self.root, f"no {self.format_name} annotation json found; expected {self.layout_hint}")
        self.parts: list[JsonSplit] = []
        self._entries: list[tuple[int, ImagePoses]] = []
        for split_name in splits:
            part = self.locate(self.root, split_name, image_dir)
            images, errors = self.scan(part.json_path)
            for error in errors:
                self._problem(error)
            self.parts.append(part)
            self._entries += [(len(self.parts) - 1, poses) for poses in images]

    @classmethod
    @abstractmethod
    def locate(cls, root: Path, split: str | None, image_dir: str | Path | None) -> JsonSplit:
        """The annotation file and image folder of ``split``."""

    @abstractmethod
    def scan(self, json_path: Path) -> tuple[list[ImagePoses], list[DataError]]:
        """Parse the annotation file, collecting malformed entries as errors."""

    def __len__(self) -> int:
        return len(self._entries)

    def sample_id(self, index: int) -> str:
        return id_from_token(self._entries[index][1].file_name)

    def split_of(self, index: int) -> str | None:
        return self.parts[self._entries[index][0]].split

    def inspect(self, index: int) -> Inspection:
        part_index, poses = self._entries[index]
        part = self.parts[part_index]
        assert self.joint_schema is not None
        image_path = part.image_dir / poses.file_name
        meta: dict[str, Any] = {
            "id": id_from_token(poses.file_name),
            "image_path": str(image_path),
            "label_path": None,
            "annotation_path": str(part.json_path),
            "split": part.split,
            "schema": self.joint_schema.name,
            "format": self.format_name,
        }
        meta.update({key: value.copy() for key, value in poses.people.items()})
        result = Inspection(meta["id"], meta, keypoints=poses.keypoints.copy())
        try:
            result.image = read_image(image_path, self.max_pixels)
        except DataError as e:
            result.errors.append(e)
        if result.image is not None and poses.size is not None and result.image.shape[:2] != poses.size:
            (ih, iw), (jh, jw) = result.image.shape[:2], poses.size
            result.errors.append(
                DataError(image_path, f"image is {ih}x{iw} (HxW) but {part.json_path.name} says {jh}x{jw}")
            )
        return result


# --------------------------------------------------------------------------- the json file


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


def load_json(path: Path) -> object:
    import json

    if not path.is_file():
        raise DataError(path, "keypoint json does not exist")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, ValueError) as e:
        raise DataError(path, f"unreadable json: {e}") from None


def finite_numbers(values: object, count: int) -> np.ndarray | None:
    """``values`` as a float array of ``count`` finite numbers, or None if it is not one."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if arr.size != count or not np.isfinite(arr).all():
        return None
    return arr
