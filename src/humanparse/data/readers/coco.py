"""COCO keypoints: 17 joints per person, one Sample per image.

Layouts: ``annotations/person_keypoints_{split}.json`` with images in ``{split}/`` or
``images/{split}/`` (COCO's own), or a json file beside its images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..image_io import DataError
from ..sample import MISSING, OCCLUDED, VISIBLE
from .base import find_dir
from .keypoint_json import ImagePoses, JsonSplit, KeypointJsonReader, finite_numbers, image_dir_for, load_json

_PREFIX = "person_keypoints_"


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
    errors: list[DataError] = []
    person_ids: set = set()
    num_joints = 0
    for cat in data.get("categories") or []:
        if isinstance(cat, dict) and cat.get("name") == "person":
            person_ids.add(cat.get("id"))
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

    by_id: dict[object, dict] = {}
    for index, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            errors.append(DataError(path, f"images[{index}]: needs an 'id' and a 'file_name'"))
            continue
        if img["id"] in by_id:
            errors.append(DataError(path, f"images[{index}]: image id {img['id']!r} appears twice"))
            continue
        size = None
        if isinstance(img.get("height"), int) and isinstance(img.get("width"), int):
            size = (img["height"], img["width"])
        by_id[img["id"]] = {"file_name": img["file_name"], "size": size, "kp": [], "bbox": [], "ann_id": []}

    for index, ann in enumerate(data["annotations"]):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            errors.append(DataError(path, f"{where}: not an object"))
            continue
        if person_ids and ann.get("category_id") not in person_ids:
            continue
        if ann.get("iscrowd", 0):
            continue
        image = by_id.get(ann.get("image_id"))
        if image is None:
            errors.append(DataError(path, f"{where}: image_id {ann.get('image_id')!r} is not among the images"))
            continue
        values = finite_numbers(ann.get("keypoints"), 3 * num_joints)
        if values is None:
            errors.append(
                DataError(path, f"{where} (image {image['file_name']}): keypoints must be {3 * num_joints} numbers")
            )
            continue
        triples = values.reshape(num_joints, 3)
        flags = triples[:, 2]
        if not np.isin(flags, (0, 1, 2)).all():
            errors.append(
                DataError(
                    path,
                    f"{where} (image {image['file_name']}): visibility flags must be 0, 1 or 2, "
                    f"found {sorted(set(flags.tolist()))}",
                )
            )
            continue
        kp = triples.astype(np.float32)
        kp[flags == 0, :2] = np.nan
        # COCO's flags are the Sample flags: MISSING=0, OCCLUDED=1, VISIBLE=2.
        kp[:, 2] = np.select([flags == 0, flags == 1], [MISSING, OCCLUDED], VISIBLE)
        bbox = finite_numbers(ann.get("bbox", [np.nan] * 4), 4) if "bbox" in ann else np.full(4, np.nan)
        if bbox is None:
            errors.append(DataError(path, f"{where} (image {image['file_name']}): bbox must be four numbers"))
            continue
        image["kp"].append(kp)
        image["bbox"].append(bbox)
        image["ann_id"].append(ann.get("id", -1))

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
