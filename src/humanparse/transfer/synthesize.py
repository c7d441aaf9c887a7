"""WSHP's label synthesis (§3.7): parsing labels for people who only have joints.

For every person of every image: the person's box from its joints, enlarged by ``margin`` on
each side; its prior from the k exemplars nearest in pose (:class:`~.priors.PriorMaker`; or its
skeleton map, for a refiner trained on those); the
refinement network on the box with that prior (the predictor's top-down view: the box
letterboxed, the maps warped back onto the image); the result pasted into the image's label,
where people overlap the more confident one winning. Pixels outside every box are background.

The labels are written as a pseudo-label folder (:class:`~humanparse.semi.pseudo_labels.PseudoLabelFolder`:
images, label PNGs, the per-pixel evidence, ``pseudo.json``), a dataset the ``pseudo`` reader
opens and that ``data.pseudo_root`` trains any parser on beside the labelled data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.readers import Reader
from ..data.sample import MISSING
from ..errors import UsageError
from .priors import PRIOR, PriorMaker, skeleton_map

DEFAULT_MARGIN = 0.25


def person_box(keypoints: np.ndarray, size: tuple[int, int], margin: float = DEFAULT_MARGIN) -> tuple[float, ...] | None:
    """(x0, y0, x1, y1) around a person's present joints, ``margin`` times its width and height
    added on each side, clipped to the image; None without two joints."""
    present = (keypoints[:, 2] != MISSING) & np.isfinite(keypoints[:, :2]).all(1)
    if present.sum() < 2:
        return None
    xy = keypoints[present, :2]
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = size
    return (max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(w), x1 + dx), min(float(h), y1 + dy))


def synthesize_labels(
    refiner: str | Path,
    maker: PriorMaker,
    targets: Reader,
    out: str | Path,
    *,
    k: int = 3,
    margin: float = DEFAULT_MARGIN,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Labels for every image of ``targets`` (a reader whose samples carry joints) by the
    refinement network's model file ``refiner`` and ``maker``'s exemplars, written to ``out``."""
    from ..inference.model_file import load_model
    from ..inference.predictor import Predictor
    from ..semi.pseudo_labels import PseudoLabelFolder

    saved = load_model(refiner)
    if PRIOR not in getattr(saved.model, "extra_inputs", {}):
        raise UsageError(f"{refiner} is not a refinement network (its model takes no {PRIOR!r} input)")
    schema = saved.label_schema
    assert schema is not None
    if schema.num_classes != maker.num_classes:
        raise UsageError(f"the refiner has {schema.num_classes} classes and the exemplars {maker.num_classes}")
    predictor = Predictor.from_saved(saved, device=device)
    skeleton = getattr(saved.model, "prior_kind", "parts") == "skeleton"  # the skeleton-map prior instead
    folder = PseudoLabelFolder(out, schema)
    skipped: list[str] = []
    without_torso: list[str] = []  # "id:person" of the people whose pose retrieves no exemplar
    for i in tqdm(range(len(targets)), desc="synthesising", unit="img", disable=None if progress else True):
        sample = targets[i]
        image_path = Path(sample.meta["image_path"])
        probabilities = np.zeros((schema.num_classes, *sample.size), dtype=np.float32)
        probabilities[0] = 1.0  # background outside every person
        people = sample.keypoints if sample.keypoints is not None else np.zeros((0, 0, 3))
        boxes = [person_box(person, sample.size, margin) for person in people]
        if not skeleton and len(people):
            usable = maker.retrievable(people)
            without_torso += [f"{sample.id}:{p}" for p, box in enumerate(boxes) if box is not None and not usable[p]]
            boxes = [box if ok else None for box, ok in zip(boxes, usable)]
        if not any(box is not None for box in boxes):
            skipped.append(sample.id)
        for person, box in zip(people, boxes):
            if box is None:
                continue
            if skeleton:
                full = skeleton_map(person, sample.size, maker.joint_schema)
            else:
                (prior,) = maker.priors(person[None], [sample.size], k=k)
                full = F.interpolate(torch.from_numpy(prior)[None], size=sample.size, mode="bilinear",
                                     align_corners=False)[0].numpy()
            (prediction,) = predictor.predict([sample.image], probabilities=True, inputs=[{PRIOR: full}], boxes=[box])
            x0, y0, x1, y1 = prediction.window  # type: ignore[misc]
            window = probabilities[:, y0:y1, x0:x1]
            assert prediction.probabilities is not None
            better = prediction.probabilities.max(0) > np.where(window.argmax(0) == 0, 0.0, window.max(0))
            window[:, better] = prediction.probabilities[:, better]
        folder.add(image_path, probabilities.argmax(0).astype(np.uint8), probabilities)
    return folder.close(refiner, "class probabilities summed per coarse class", synthesised_by="wshp",
                        neighbours=k, margin=margin, without_joints=skipped, without_torso=without_torso)


def run_synthesize(
    refiner: str | Path, config_path: str | Path, out: str | Path, *, split: str | None,
    keypoints: str | Path | None = None, ids: str | None = None, root: str | Path | None = None, k: int = 3,
    margin: float = DEFAULT_MARGIN, device: str = "cpu", progress: bool = True,
) -> dict[str, Any]:
    """``humanparse transfer synthesize``: the exemplars are the config's training split (labels
    and joints); the targets the ``split`` (optionally the ``ids``) of its dataset or of another
    folder of its format (``root``), with the joints of ``keypoints`` (a LIP pose CSV: CCP's
    detector joints; LIP-layout data may use its own pose CSV)."""
    from ..config import load_config
    from ..data.readers import get_format, open_dataset
    from ..engine.data import open_split, select_ids
    from ..schemas import get_label_schema

    data = load_config(config_path)["data"]
    reader, indices = open_split(data, "train_split", "train_ids")
    if reader.joint_schema is None:
        raise UsageError(f"{config_path}: the training split has no joints (data.keypoints): no exemplar poses")
    exemplars = [reader[i] for i in indices]
    schema = getattr(reader, "schema", None) or get_label_schema(data["schema"])
    maker = PriorMaker.from_samples(exemplars, reader.joint_schema, schema.num_classes)
    options: dict[str, Any] = {"labels_required": False}
    if keypoints is not None:
        if get_format(data["format"]).takes_keypoints_file:
            options["keypoints"] = keypoints
        elif data["format"] == "lip":
            options["pose_csv"] = keypoints
        else:
            raise UsageError(f"the {data['format']!r} format takes no joints file; its targets need joints of their own")
    targets = open_dataset(data["format"], root if root is not None else data["root"], split=split,
                           schema=data["schema"], **options)
    if ids is not None:
        from torch.utils.data import Subset

        chosen = select_ids([targets.sample_id(i) for i in range(len(targets))], ids)
        targets = Subset(targets, chosen)  # type: ignore[assignment]
    return synthesize_labels(refiner, maker, targets, out, k=k, margin=margin, device=device, progress=progress)


__all__ = ["DEFAULT_MARGIN", "person_box", "run_synthesize", "synthesize_labels"]
