"""COCO keypoints: 17 joints per person, one Sample per image.

Layouts: ``annotations/person_keypoints_{split}.json`` with images in ``{split}/`` or
``images/{split}/`` (COCO's own), or a json file beside its images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..image_io import DataError
from ..sample import MISSING, OCCLUDED, VISIBLE
from .base import MAX_MAGNITUDE, find_dir, shorten
from .keypoint_json import (
    FieldProblem, ImagePoses, JsonSplit, KeypointJsonReader, describe, finite_numbers, image_dir_for, json_id,
    json_name, load_json,
)

_PREFIX = "person_keypoints_"
# COCO's visibility flag (0 unlabelled, 1 labelled but not visible, 2 visible) -> the Sample flag.
_SAMPLE_FLAGS = np.array([MISSING, OCCLUDED, VISIBLE], dtype=np.float32)


class COCOReader(KeypointJsonReader):
    format_name = "coco"
    default_schema = "coco"
    layout_hint = "annotations/person_keypoints_{split}.json + {split}/ images, or a json file beside its images"

    annotation_prefix = _PREFIX

    @classmethod
    def locate(cls, root: Path, split: str | None, image_dir: str | Path | None) -> JsonSplit:
        if root.is_file():
            return JsonSplit(split, root, image_dir_for(root, root.parent, image_dir))
        if split is not None:
            official = root / "annotations" / f"{_PREFIX}{split}.json"
            if official.is_file():
                images = Path(image_dir) if image_dir is not None else find_dir(root, split, f"images/{split}")
                if images is None:
                    raise DataError(root, f"no image folder for COCO split {split!r} ({split}/ or images/{split}/)")
                return JsonSplit(split, official, images)
            plain = root / f"{split}.json"
            if plain.is_file():
                return JsonSplit(split, plain, image_dir_for(plain, root, image_dir))
        raise DataError(root, f"COCO split {split!r} not found; expected {cls.layout_hint}")

    def scan(self, json_path: Path) -> tuple[list[ImagePoses], list[DataError]]:
        assert self.joint_schema is not None
        images, num_joints, errors = scan_coco_keypoints_json(json_path)
        if num_joints != self.joint_schema.num_joints:
            raise DataError(
                json_path,
                f"annotations have {num_joints} joints but the {self.joint_schema.name!r} joint schema has "
                f"{self.joint_schema.num_joints}",
            )
        return images, errors


# --------------------------------------------------------------------------- the annotation file


def scan_coco_keypoints_json(path: str | Path) -> tuple[list[ImagePoses], int, list[DataError]]:
    """A COCO keypoint json: one :class:`ImagePoses` per listed image, with its people.

    Returns (images, number of joints, errors). The joint count comes from the person
    category's ``keypoints`` names, or else from the first annotation. COCO's flag maps
    directly: 0 -> MISSING (x, y set to NaN), 1 -> OCCLUDED, 2 -> VISIBLE. Crowd regions
    (``iscrowd`` = 1) are not people and are left out; annotations of other categories too.
    Images without people get (0, K, 3) keypoints.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise DataError(path, "not a COCO keypoint json: expected an object with 'images' and 'annotations' lists")
    categories = data.get("categories") or []
    if not isinstance(categories, list):
        raise DataError(path, f"'categories': expected a list of objects, got {describe(categories)}")
    errors: list[DataError] = []
    person_ids: set[int | str] = set()
    num_joints = 0
    for index, cat in enumerate(categories):
        if isinstance(cat, dict) and cat.get("name") == "person":
            try:
                person_ids.add(json_id(cat.get("id"), "id"))
            except FieldProblem as e:
                errors.append(DataError(path, f"categories[{index}], {e}"))
                continue
            if isinstance(cat.get("keypoints"), list):
                num_joints = len(cat["keypoints"])
    if not num_joints:
        for ann in data["annotations"]:
            if isinstance(ann, dict) and isinstance(ann.get("keypoints"), list) and ann["keypoints"]:
                num_joints = len(ann["keypoints"]) // 3
                break
    if not num_joints:
        raise DataError(
            path, "cannot tell the number of joints: no person category with keypoint names and no keypoints"
        )

    by_id: dict[int | str, dict] = {}
    for index, img in enumerate(data["images"]):
        where = f"images[{index}]"
        if not isinstance(img, dict):
            errors.append(DataError(path, f"{where}: not an object"))
            continue
        try:
            image_id = json_id(img.get("id"), "id")
            file_name = json_name(img.get("file_name"), "file_name")
        except FieldProblem as e:
            errors.append(DataError(path, f"{where}, {e}"))
            continue
        if image_id in by_id:
            errors.append(DataError(path, f"{where}: image id {shorten(repr(image_id))} appears twice"))
            continue
        size = None
        if "height" in img or "width" in img:
            try:
                size = (_image_side(img, "height"), _image_side(img, "width"))
            except FieldProblem as e:  # the image is still usable, only its stated size is not
                errors.append(DataError(path, f"{where} ({shorten(file_name)}), {e}"))
        by_id[image_id] = {"file_name": file_name, "size": size, "kp": [], "bbox": [], "ann_id": []}

    for index, ann in enumerate(data["annotations"]):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            errors.append(DataError(path, f"{where}: not an object"))
            continue
        try:
            if not _is_person(ann, person_ids):
                continue
            image_id = json_id(ann.get("image_id"), "image_id")
            image = by_id.get(image_id)
            if image is None:
                hint = _id_hint(image_id, by_id)
                raise FieldProblem(f"'image_id': {shorten(repr(image_id))} is not among the images{hint}")
            where += f" (image {shorten(image['file_name'])})"
            kp, bbox, ann_id = _person(ann, num_joints)
        except FieldProblem as e:
            errors.append(DataError(path, f"{where}, {e}"))
            continue
        image["kp"].append(kp)
        image["bbox"].append(bbox)
        image["ann_id"].append(ann_id)

    images = []
    for image in by_id.values():
        kp = np.stack(image["kp"]) if image["kp"] else np.zeros((0, num_joints, 3), dtype=np.float32)
        images.append(
            ImagePoses(
                file_name=image["file_name"],
                keypoints=kp,
                people={
                    "bbox": np.asarray(image["bbox"], dtype=np.float32).reshape(-1, 4),
                    "annotation_id": np.asarray(image["ann_id"], dtype=np.int64),
                },
                size=image["size"],
            )
        )
    return images, num_joints, errors


def _id_hint(image_id: int | str, by_id: dict[int | str, dict]) -> str:
    """Why an id may be missing when its text is there: ``1`` against images listed as ``"1"``."""
    if isinstance(image_id, int):
        other: int | str | None = str(image_id)
    else:
        other = int(image_id) if image_id.isascii() and image_id.isdigit() else None
    if other is None or other not in by_id:
        return ""
    return f" (the image's id is {other!r}: ids must match in type too)"


def _image_side(img: dict, key: str) -> int:
    value = img.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MAGNITUDE:
        raise FieldProblem(f"{key!r}: expected a positive number of pixels, got {describe(value)}")
    return value


def _is_person(ann: dict, person_ids: set[int | str]) -> bool:
    """False for annotations of another category and for crowd regions."""
    if person_ids and (ann.get("category_id") is None or json_id(ann["category_id"], "category_id") not in person_ids):
        return False
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1):
        raise FieldProblem(f"'iscrowd': expected 0 or 1, got {describe(crowd)}")
    return not crowd


def _person(ann: dict, num_joints: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One person's (K, 3) keypoints, bbox and annotation id; a FieldProblem for a malformed field."""
    expected = f"{3 * num_joints} numbers (x, y, v per joint)"
    values = finite_numbers(ann.get("keypoints"), 3 * num_joints, "keypoints", expected)
    triples = values.reshape(num_joints, 3)
    flags = triples[:, 2]
    if not ((flags == 0) | (flags == 1) | (flags == 2)).all():
        raise FieldProblem(f"'keypoints': visibility flags must be 0, 1 or 2, found {sorted(set(flags.tolist()))}")
    kp = triples.astype(np.float32)
    kp[flags == 0, :2] = np.nan
    kp[:, 2] = _SAMPLE_FLAGS[flags.astype(np.intp)]
    bbox = finite_numbers(ann["bbox"], 4, "bbox", "four numbers [x, y, w, h]") if "bbox" in ann else np.full(4, np.nan)
    ann_id = ann.get("id", -1)
    if isinstance(ann_id, bool) or not isinstance(ann_id, int) or not -(2**63) <= ann_id < 2**63:
        raise FieldProblem(f"'id': expected an integer, got {describe(ann_id)}")
    return kp, bbox, ann_id
