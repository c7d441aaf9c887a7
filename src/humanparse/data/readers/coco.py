"""COCO keypoints: 17 joints per person, one Sample per image.

Layouts: ``annotations/person_keypoints_{split}.json`` with images in ``{split}/`` or
``images/{split}/`` (COCO's own), or a json file beside its images.
"""

from __future__ import annotations

from pathlib import Path

from ..image_io import DataError
from ..pose_files import ImagePoses, scan_coco_keypoints_json
from .base import find_dir
from .keypoint_json import JsonSplit, KeypointJsonReader, image_dir_for

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
