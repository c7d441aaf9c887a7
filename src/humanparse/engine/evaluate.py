"""``humanparse evaluate``: score a saved model on a dataset split under the official protocol.

Predictions are made with the model file's test-time augmentation (or the scales and flip
given), mapped back to each image's own resolution, and accumulated into one confusion
matrix against the original labels; the table and JSON are those of ``humanparse score``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from ..evaluation.parsing_metrics import ABSENT_CONVENTIONS, ConfusionMatrix, ParsingScores, SizeBreakdown
from ..evaluation.score import format_parsing_table, write_parsing_json
from ..evaluation.tta import ParsingPredictor
from ..models.saved import load_model
from ..schemas import IGNORE_INDEX, LabelSchema
from .data import open_split


def evaluate_model(
    model_path: str | Path,
    data: dict[str, Any],
    *,
    split_key: str = "val_split",
    ids_key: str = "val_ids",
    scales: Sequence[float] | None = None,
    flip: bool | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    absent: str = "skip",
    progress: bool = True,
) -> tuple[ParsingScores, dict[str, Any], int, LabelSchema]:
    """(scores, size breakdown as a dict, number of images, the model's schema) on one split."""
    saved = load_model(model_path, device=device)
    data = {**data, "schema": data.get("schema") or saved.label_schema}
    reader, indices = open_split(data, split_key, ids_key)
    schema = saved.label_schema
    if getattr(reader, "schema", schema).num_classes != schema.num_classes:
        raise ValueError(
            f"the model predicts {schema.num_classes} classes ({schema.name}) but the data has "
            f"{reader.schema.num_classes} ({reader.schema.name})"
        )
    predictor = ParsingPredictor.from_saved(
        saved,
        scales=tuple(scales) if scales else tuple(saved.test_time.get("scales", [1.0])),
        flip=saved.test_time.get("flip", False) if flip is None else flip,
        device=device,
    )
    matrix = ConfusionMatrix(schema.num_classes, IGNORE_INDEX)
    sizes = SizeBreakdown(schema.num_classes, IGNORE_INDEX)
    bar = tqdm(total=len(indices), desc="evaluating", unit="img", disable=None if progress else True)
    for start in range(0, len(indices), batch_size):
        samples = [reader[i] for i in indices[start : start + batch_size]]
        labels = predictor.predict_labels([s.image for s in samples])
        for sample, pred in zip(samples, labels):
            if sample.label is None:
                raise ValueError(f"{sample.meta.get('image_path', sample.id)}: no label to score against")
            matrix.update(pred, sample.label)
            sizes.update(pred, sample.label)
        bar.update(len(samples))
    bar.close()
    return matrix.scores(absent), sizes.to_dict(absent), len(indices), schema


def run_evaluate(
    model_path: str | Path,
    data: dict[str, Any],
    *,
    json_out: str | None = None,
    absent: str = "skip",
    **options: Any,
) -> int:
    if absent not in ABSENT_CONVENTIONS:
        print(f"humanparse: error: --absent must be one of {ABSENT_CONVENTIONS}", file=sys.stderr)
        return 2
    if options.get("device", "cpu").startswith("cuda") and not torch.cuda.is_available():
        print("humanparse: error: --device cuda asked for, but no CUDA GPU is available", file=sys.stderr)
        return 2
    scores, size_table, count, schema = evaluate_model(model_path, data, absent=absent, **options)
    print(format_parsing_table(scores, schema.classes, size_table, count))
    if json_out:
        write_parsing_json(json_out, scores, schema, size_table, count, model=str(model_path))
    return 0


__all__ = ["evaluate_model", "run_evaluate"]
