"""Top-down pose evaluation: every annotated person a view of its own (MPII's single-person
protocol; LIP paper, Table 10: a LIP-trained pose model scored by PCKh on MPII).

Each person's box (``meta["box"]``: for MPII a square of side 200 x scale x 1.25 about its
centre, see :mod:`humanparse.data.readers.mpii`) is letterboxed into the model's input, with the
model file's test-time scales and flip; the heatmaps go back through that view's affine onto
the image's pixels, where the joints are read (:meth:`Predictor.predict` with ``boxes``, the
predictor's one path). The joints are mapped from the model's joint schema into the data's by
name (:func:`humanparse.schemas.mappings.joint_mapping`) and scored against that person alone,
under the data's PCK rule (MPII: 0.6 x its head-box diagonal).

Images that are not on disk (MPII's images are 12.9 GB, so a copy often holds a part) are
skipped, and their people counted as not scored; every table says how many people were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from ..data.readers.base import Reader
from ..errors import DataError
from ..inference.predictor import Predictor
from ..schemas import JointSchema
from ..schemas.mappings import JointMapping
from .pose_metrics import PCKAccumulator


@dataclass
class TopDownCount:
    """How many people a top-down evaluation scored, and how many it could not (no image)."""

    people: int = 0
    images: int = 0
    people_without_image: int = 0
    images_missing: int = 0

    def describe(self) -> str:
        text = f"top-down: {self.people} people of {self.images} images, each its own view (its box letterboxed)"
        if self.images_missing:
            text += (
                f"; {self.people_without_image} more people not scored: their {self.images_missing} image files "
                "are not on disk"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def headboxes_of(meta: dict[str, Any], schema: JointSchema, people: int) -> np.ndarray | None:
    """The sample's (P, 2, 2) head boxes where the schema's PCK rule needs them (None otherwise);
    a DataError naming the annotation file when they are not there."""
    if schema.pck.kind != "headbox":
        return None
    boxes = meta.get("headbox")
    if boxes is None or len(boxes) < people:
        where = meta.get("annotation_path") or meta.get("image_path") or meta.get("id", "")
        raise DataError(
            where,
            f"joint schema {schema.name!r} scores PCKh against head boxes, which this data lacks: give MPII's "
            "ground-truth .mat (--headboxes FILE, data.headboxes, or mpii_gt_<split>.mat beside the json), "
            "or score by LIP's neck-to-head rule (--schema lip)",
        )
    return np.asarray(boxes)


def _person_box(meta: dict[str, Any], person: int) -> tuple[float, float, float, float]:
    boxes = meta.get("box")
    box = None if boxes is None or person >= len(boxes) else np.asarray(boxes[person], dtype=np.float64)
    if box is None or not np.isfinite(box).all():
        where = meta.get("annotation_path") or meta.get("image_path") or meta.get("id", "")
        name = Path(str(meta.get("image_path", ""))).name
        raise DataError(where, f"{name}: person {person} has no box (MPII: center and scale) to take a top-down view of")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def evaluate_top_down(
    predictor: Predictor,
    reader: Reader,
    indices: Sequence[int],
    pose: PCKAccumulator,
    mapping: JointMapping,
    *,
    batch_size: int = 4,
    progress: bool = True,
) -> TopDownCount:
    """Score every annotated person of the samples ``indices`` of ``reader`` as a view of its
    own, ``batch_size`` people to a forward pass; counts go into ``pose``."""
    count = TopDownCount()
    batch: list[tuple[np.ndarray, tuple[float, float, float, float], np.ndarray, np.ndarray | None]] = []

    def flush() -> None:
        predictions = predictor.predict([b[0] for b in batch], boxes=[b[1] for b in batch])
        for (_, _, keypoints, headbox), prediction in zip(batch, predictions):
            assert prediction.joints is not None
            pose.update(mapping.points(prediction.joints[None, :, :2]), keypoints, headbox)
        batch.clear()

    bar = tqdm(total=len(indices), desc="evaluating (top-down)", unit="img", disable=None if progress else True)
    for index in indices:
        inspection = reader.inspect(index)
        meta = inspection.meta
        image_path = meta.get("image_path")
        if inspection.image is None and image_path is not None and not Path(image_path).is_file():
            count.images_missing += 1
            count.people_without_image += 0 if inspection.keypoints is None else len(inspection.keypoints)
            bar.update(1)
            continue
        sample = inspection.sample()  # raises any other problem of the sample
        if sample.keypoints is None:
            raise DataError(image_path or sample.id, "no keypoints to score against")
        people = len(sample.keypoints)
        headboxes = headboxes_of(sample.meta, pose.schema, people)
        for person in range(people):
            headbox = None if headboxes is None else headboxes[person : person + 1]
            batch.append((sample.image, _person_box(sample.meta, person), sample.keypoints[person : person + 1], headbox))
            if len(batch) == batch_size:
                flush()
        count.people += people
        count.images += 1
        bar.update(1)
    if batch:
        flush()
    bar.close()
    if count.people == 0:
        raise DataError(reader.root, f"none of the {len(indices)} images of the split is on disk: no person to score")
    return count


__all__ = ["TopDownCount", "evaluate_top_down", "headboxes_of"]
