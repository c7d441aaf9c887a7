"""``humanparse evaluate``: score a saved model on a dataset split under the official protocol.

Predictions are made with the model file's test-time augmentation (or the scales and flip
given), mapped back to each image's own resolution, and accumulated into one confusion
matrix against the original labels; the table and JSON are those of ``humanparse score``.
A model that predicts joints is also scored by PCK against the data's keypoints.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from ..engine.data import open_split
from ..errors import DataError, UsageError
from ..inference.model_file import load_model, resolve_device
from ..inference.predictor import Predictor
from ..models import predicts_parsing
from ..schemas import IGNORE_INDEX, LabelSchema
from .cross_schema import CrossSchema, resolve_mapping
from .parsing_metrics import ABSENT_CONVENTIONS, ConfusionMatrix, ParsingScores, SizeBreakdown
from .pose_metrics import PCKAccumulator
from ..io import write_json
from .score import format_parsing_table, format_pose_table, rule_text, write_parsing_json


@dataclass
class Evaluation:
    """What ``evaluate`` measured on a split: parsing scores, size breakdown and confusion
    matrix (None for a pose-only model), PCK counts (None for a parsing-only model or data
    without keypoints); ``cross_schema`` says how predictions were mapped into the data's
    schema (``to_schema``), else None."""

    scores: ParsingScores | None
    sizes: dict[str, Any] | None
    count: int
    schema: LabelSchema | None
    pose: PCKAccumulator | None = None
    matrix: ConfusionMatrix | None = None
    cross_schema: str | None = None


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
    to_schema: str | Path | None = None,
) -> Evaluation:
    """Score a model file on one split: parsing under the official protocol, and joints by PCK
    under the joint schema's rule when the model predicts them and the data has keypoints.

    ``to_schema``: the data's labels are in another schema (a built-in name, or a mapping YAML
    from the model's schema); predictions are mapped into it and scored on the classes they
    can reach (:mod:`humanparse.evaluation.cross_schema`)."""
    saved = load_model(model_path, device=device)
    schema = saved.label_schema
    cross = None
    if to_schema is not None:
        if schema is None:
            raise UsageError("--to-schema maps parsing predictions, and this model predicts joints only")
        cross = CrossSchema(resolve_mapping(schema, to_schema))
        schema = cross.target
    data = {**data, "schema": data.get("schema") or schema}
    reader, indices = open_split(data, split_key, ids_key)
    data_schema = getattr(reader, "schema", schema)
    if schema is not None and isinstance(data_schema, LabelSchema) and data_schema.num_classes != schema.num_classes:
        raise UsageError(
            f"the model predicts {schema.num_classes} classes ({schema.name}) but the data has "
            f"{reader.schema.num_classes} ({reader.schema.name})"
        )
    # Scales and flip default to the model file's test_time there.
    predictor = Predictor.from_saved(saved, scales=tuple(scales) if scales else None, flip=flip, device=device)
    parses = predicts_parsing(saved.model)
    if cross is not None:
        schema = cross.scored_schema
    matrix = ConfusionMatrix(schema.num_classes, IGNORE_INDEX) if parses else None
    sizes = SizeBreakdown(schema.num_classes, IGNORE_INDEX) if parses else None
    pose = None
    if saved.joint_schema is not None and reader.joint_schema is not None:
        if reader.joint_schema.num_joints != saved.joint_schema.num_joints:
            raise UsageError(
                f"the model predicts {saved.joint_schema.num_joints} joints ({saved.joint_schema.name}) but the data "
                f"has {reader.joint_schema.num_joints} ({reader.joint_schema.name})"
            )
        pose = PCKAccumulator(reader.joint_schema)  # the data's PCK rule (LIP: neck-head; MPII: head box)
    if not parses and pose is None:
        raise DataError(data["root"], "the model predicts joints only, and this data has no keypoints to score them")
    bar = tqdm(total=len(indices), desc="evaluating", unit="img", disable=None if progress else True)
    for start in range(0, len(indices), batch_size):
        samples = [reader[i] for i in indices[start : start + batch_size]]
        predictions = predictor.predict([s.image for s in samples])
        for sample, pred in zip(samples, predictions):
            where = sample.meta.get("image_path", sample.id)
            if matrix is not None and sizes is not None:
                if sample.label is None:
                    raise DataError(where, "no label to score against")
                labels, truth = pred.labels, sample.label
                if cross is not None:
                    labels, truth = cross.scored_prediction(labels), cross.scored_ground_truth(truth)
                matrix.update(labels, truth)
                sizes.update(labels, truth)
            if pose is not None and pred.joints is not None:
                if sample.keypoints is None:
                    raise DataError(where, "no keypoints to score against")
                headbox = sample.meta.get("headbox")
                pose.update(pred.joints[None, :, :2], sample.keypoints[:1], None if headbox is None else headbox[:1])
        bar.update(len(samples))
    bar.close()
    return Evaluation(
        scores=matrix.scores(absent) if matrix is not None else None,
        sizes=sizes.to_dict(absent) if sizes is not None else None,
        count=len(indices), schema=schema, pose=pose, matrix=matrix,
        cross_schema=cross.describe() if cross is not None else None,
    )


def _pose_payload(pose: PCKAccumulator) -> dict[str, Any]:
    return {**pose.summary().to_dict(), "schema": pose.schema.name, "protocol": rule_text(pose.schema)}


def run_evaluate(
    model_path: str | Path,
    data: dict[str, Any],
    *,
    json_out: str | None = None,
    absent: str = "skip",
    **options: Any,
) -> int:
    if absent not in ABSENT_CONVENTIONS:
        raise UsageError(f"--absent must be one of {ABSENT_CONVENTIONS}, not {absent!r}")
    resolve_device(options.get("device", "cpu"))
    result = evaluate_model(model_path, data, absent=absent, **options)
    if result.cross_schema is not None:
        print(result.cross_schema, file=sys.stderr)
    if result.scores is not None:
        print(format_parsing_table(result.scores, result.schema.classes, result.sizes or {}, result.count))
    if result.pose is not None:
        summary = result.pose.summary()
        print(f"PCK@0.5 (joint schema {result.pose.schema.name}; reference: {rule_text(result.pose.schema)})")
        print(format_pose_table(summary.table, summary.mean, "Mean"))
    if json_out:
        if result.scores is not None:
            extra = {"pose": _pose_payload(result.pose)} if result.pose is not None else {}
            write_parsing_json(
                json_out, result.scores, result.schema, result.sizes or {}, result.count, model=str(model_path), **extra
            )
        elif result.pose is not None:
            write_json(json_out, {**_pose_payload(result.pose), "num_images": result.count, "model": str(model_path)})
    return 0


__all__ = ["Evaluation", "evaluate_model", "run_evaluate"]
