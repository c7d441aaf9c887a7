"""Readers of keypoint-only datasets stored as an image folder and a json annotation file."""

from __future__ import annotations

import math
from abc import abstractmethod
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...schemas import JointSchema
from ..image_io import DEFAULT_MAX_PIXELS, DataError, read_image
from .base import (
    MAX_MAGNITUDE, MAX_NAME_LENGTH, Inspection, Reader, id_from_token, name_problem, order_splits, read_text_file,
    shorten,
)


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
    """The parsed json file; a missing, non-UTF-8 or malformed file is a DataError naming it."""
    import json

    text = read_text_file(path, "keypoint json")
    try:
        return json.loads(text)
    except ValueError as e:  # malformed json, or an integer of more digits than Python converts
        raise DataError(path, f"unreadable json: {e}") from None
    except RecursionError:
        raise DataError(path, "unreadable json: nested too deeply") from None


class FieldProblem(Exception):
    """What is wrong with one field of a json entry; the scanner reports it with the file and the entry."""


def describe(value: object) -> str:
    """A json value in a few words, for messages: ``a string``, ``a list of 15 items``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return shorten(repr(value), 40)
    if isinstance(value, str):
        return f"a string ({shorten(value, 40)!r})" if value else "an empty string"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number_problem(value: object) -> str | None:
    """Why one json value is not a usable number, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return describe(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if abs(value) > MAX_MAGNITUDE:
        return f"{describe(value)} (beyond ±{MAX_MAGNITUDE:g})"
    return None


def finite_numbers(values: object, count: int, key: str, expected: str) -> np.ndarray:
    """Field ``key`` as ``count`` float64 numbers, each finite and within ±MAX_MAGNITUDE: a list
    of numbers, or of lists of numbers (``[[x, y], ...]`` reads as ``x, y, ...``). Otherwise a
    :class:`FieldProblem` saying ``'key': expected <expected>, got ...``."""
    def problem(found: str) -> FieldProblem:
        return FieldProblem(f"{key!r}: expected {expected}, got {found}")

    if not isinstance(values, (list, tuple)) or len(values) > count:  # a huge list is refused unread
        raise problem(describe(values))
    # The common cases, a flat list of numbers or a list of [x, y] lists, checked at numpy's
    # speed (COCO's train split has 150k of them); anything else is examined item by item below.
    leaves = list(chain.from_iterable(values)) if set(map(type, values)) == {list} else values
    if len(leaves) == count and set(map(type, leaves)) <= {float, int}:
        try:
            numbers = np.array(leaves, dtype=np.float64)
        except OverflowError:  # an integer past float64: named below
            numbers = None
        if numbers is not None and (np.abs(numbers) <= MAX_MAGNITUDE).all():  # NaN and inf fail this
            return numbers
    flat: list[float] = []
    for index, item in enumerate(values):
        for part in item if isinstance(item, (list, tuple)) else (item,):
            wrong = _number_problem(part)
            if wrong is not None:
                raise problem(f"{wrong} in item {index}")
            flat.append(part)
            if len(flat) > count:
                raise problem(f"more than {count} numbers")
    if len(flat) != count:
        nested = any(isinstance(item, (list, tuple)) for item in values)
        raise problem(describe(values) if nested else f"{len(flat)} number{'s' * (len(flat) != 1)}")
    return np.array(flat, dtype=np.float64)


def json_number(value: object, key: str) -> float:
    """Field ``key`` as one finite number within ±MAX_MAGNITUDE."""
    wrong = _number_problem(value)
    if wrong is not None:
        raise FieldProblem(f"{key!r}: expected a number, got {wrong}")
    return float(value)  # type: ignore[arg-type]


def json_id(value: object, key: str) -> int | str:
    """An id field (``id``, ``image_id``, ``category_id``): an integer or a string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldProblem(f"{key!r}: expected an integer or a string, got {describe(value)}")
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        raise FieldProblem(f"{key!r} {name_problem(value)}")
    return value


def json_name(value: object, key: str) -> str:
    """An image name field: a non-empty string that can name a file."""
    if not isinstance(value, str):
        raise FieldProblem(f"{key!r}: expected an image name, got {describe(value)}")
    problem = name_problem(value)
    if problem is not None:
        raise FieldProblem(f"{key!r} {problem}")
    return value
