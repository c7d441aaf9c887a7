"""Pseudo-labels for unlabelled images, with the per-pixel evidence that noise identification reads.

``humanparse pseudo-label --model MODEL IMAGES... --out DIR`` writes a dataset the ``pseudo``
reader opens (and the ``folder`` reader too, labels only)::

    DIR/images/ID.jpg       the image, copied
    DIR/labels/ID.png       the pseudo-label: argmax of the prediction, a palette PNG
    DIR/evidence/ID.npz     float16 "certainty" (the smoothed-Dirac divergence, larger is less
                            certain) and "max_probability"; uint8 "level_<name>": the coarse
                            class predicted at each level of the schema's hierarchy
    DIR/pseudo.json         the label schema, the model, epsilon, where the levels came from

Everything is at the image's original resolution, through the predictor (the model file's
test-time scales and flip). The level predictions are HIPN's own, from its NIP maps (the high
level from the full body's foreground, the middle level the argmax of background and the
halves); a model without NIP maps gets them from its class probabilities summed per coarse
class. Which pixels count as noisy is decided when the dataset is read (its noise rule), so one
set of pseudo-labels serves every rule of the paper's Table 2.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.image_io import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DataError, read_image, write_label_png
from ..errors import UsageError
from ..schemas import LabelSchema
from .noise import DEFAULT_EPSILON, smoothed_dirac_divergence

PSEUDO_FILE = "pseudo.json"
IMAGES, LABELS, EVIDENCE = "images", "labels", "evidence"
LEVEL_PREFIX = "level_"


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named or found (not recursively) in named folders, in order; an error for a
    missing path, a folder without images or two images of one name (their ids would clash)."""
    found: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
            if not images:
                raise DataError(path, f"holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(path, "no such image or folder")
    stems: dict[str, Path] = {}
    for path in found:
        if path.stem in stems:
            raise DataError(path, f"has the same name as {stems[path.stem]}; pseudo-labels are named by image stem")
        stems[path.stem] = path
    return found


def level_predictions(
    schema: LabelSchema, probabilities: np.ndarray, from_model: list[np.ndarray] | None
) -> list[np.ndarray]:
    """Each hierarchy level's (H, W) uint8 coarse ids: the model's (HIPN), or the argmax of the
    class probabilities summed per coarse class."""
    if from_model is not None:
        return [np.asarray(level, dtype=np.uint8) for level in from_model]
    return [schema.level_probabilities(probabilities, lv.name, dim=0).argmax(0).astype(np.uint8) for lv in schema.hierarchy]


def evidence(probabilities: np.ndarray, epsilon: float) -> dict[str, np.ndarray]:
    """The certainty divergence and the highest probability of (C, H, W) probabilities, float16."""
    probs = torch.from_numpy(probabilities)
    return {
        "certainty": smoothed_dirac_divergence(probs, dim=0, epsilon=epsilon).numpy().astype(np.float16),
        "max_probability": probabilities.max(axis=0).astype(np.float16),
    }


class PseudoLabelFolder:
    """A pseudo-label folder being written (see the module docstring): :meth:`add` one image at a
    time, :meth:`close` to record it. Used by ``pseudo-label`` and by WSHP's label synthesis."""

    def __init__(self, out: str | Path, schema: LabelSchema, epsilon: float = DEFAULT_EPSILON) -> None:
        self.out, self.schema, self.epsilon, self.count = Path(out), schema, epsilon, 0
        if (self.out / PSEUDO_FILE).exists():
            raise UsageError(f"{self.out} already holds pseudo-labels ({PSEUDO_FILE}); give another --out or remove it")
        for folder in (IMAGES, LABELS, EVIDENCE):
            (self.out / folder).mkdir(parents=True, exist_ok=True)

    def add(self, image: Path, labels: np.ndarray, probabilities: np.ndarray, levels: list[np.ndarray] | None = None) -> None:
        """One image's pseudo-label, from its (C, H, W) probabilities and, where the model has
        them, its own level predictions."""
        levels = level_predictions(self.schema, probabilities, levels)
        shutil.copyfile(image, self.out / IMAGES / image.name)
        write_label_png(self.out / LABELS / f"{image.stem}.png", labels, self.schema.flat_palette())
        np.savez_compressed(
            self.out / EVIDENCE / f"{image.stem}.npz", **evidence(probabilities, self.epsilon),
            **{f"{LEVEL_PREFIX}{lv.name}": level for lv, level in zip(self.schema.hierarchy, levels)},
        )
        self.count += 1

    def close(self, model: str | Path, levels_from: str, **facts: Any) -> dict[str, Any]:
        record = {
            "format": "pseudo", "model": str(model), "images": self.count, "epsilon": self.epsilon,
            "levels": {"names": list(self.schema.level_names), "from": levels_from}, **facts,
            "schema": self.schema.to_dict(),
        }
        (self.out / PSEUDO_FILE).write_text(json.dumps(record, indent=2))
        return record


def write_pseudo_labels(
    model: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    device: str = "cpu",
    batch_size: int = 4,
    epsilon: float = DEFAULT_EPSILON,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> dict[str, Any]:
    """Pseudo-label ``inputs`` (images and folders of images) with the model file ``model`` into
    ``out`` (see the module docstring); returns what ``pseudo.json`` records."""
    from ..inference.model_file import load_model
    from ..inference.predictor import Predictor

    images = collect_images(inputs)
    saved = load_model(model)
    if saved.label_schema is None:
        raise UsageError(f"model {model} predicts no parsing: pseudo-labels need a parser")
    schema = saved.label_schema
    folder = PseudoLabelFolder(out, schema, epsilon)
    predictor = Predictor.from_saved(saved, device=device)
    from_model = bool(schema.hierarchy) and hasattr(saved.model, "level_scores")
    bar = tqdm(total=len(images), desc="pseudo-labelling", unit="img", disable=None if progress else True)
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        arrays = [read_image(path, max_pixels) for path in chunk]
        for path, prediction in zip(chunk, predictor.predict(arrays, probabilities=True, level_scores=from_model)):
            assert prediction.labels is not None and prediction.probabilities is not None
            folder.add(path, prediction.labels, prediction.probabilities, prediction.levels)
        bar.update(len(chunk))
    bar.close()
    return folder.close(model, "the model's NIP maps" if from_model else "class probabilities summed per coarse class")


__all__ = [
    "EVIDENCE", "IMAGES", "LABELS", "LEVEL_PREFIX", "PSEUDO_FILE", "PseudoLabelFolder", "collect_images", "evidence", "level_predictions",
    "write_pseudo_labels",
]
