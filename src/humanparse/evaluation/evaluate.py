"""``humanparse evaluate``: score a saved model on a dataset split under the official protocol.

Predictions are made with the model file's test-time augmentation (or the scales and flip
given), mapped back to each image's own resolution, and accumulated into one confusion
matrix against the original labels; the table and JSON are those of ``humanparse score``.
A model that predicts joints is also scored by PCK against the data's keypoints, its joints
mapped by name into the data's joint schema (a LIP model on MPII); with ``top_down`` every
annotated person is a view of its own instead (:mod:`.top_down`, MPII's protocol).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from ..data.readers import get_format
from ..devices import resolve_device
from ..engine.data import open_split
from ..errors import DataError, UsageError
from ..inference.model_file import load_model
from ..io import check_writable_file
from ..inference.predictor import Predictor
from ..models import predicts_parsing
from ..schemas import IGNORE_INDEX, JointSchema, LabelSchema
from ..schemas.mappings import JointMapping, joint_mapping
from .cross_schema import CrossSchema, resolve_mapping
from .parsing_metrics import ABSENT_CONVENTIONS, ConfusionMatrix, ParsingScores, SizeBreakdown
from .pose_metrics import PCKAccumulator
from ..io import write_json
from .score import format_parsing_table, format_pose_table, rule_text, write_parsing_json
from .top_down import TopDownCount, evaluate_top_down, headboxes_of


@dataclass
class Evaluation:
    """What ``evaluate`` measured on a split: parsing scores, size breakdown and confusion
    matrix (None for a pose-only model, data without labels, or a top-down run), PCK counts
    (None for a parsing-only model or data without keypoints); ``cross_schema`` says how
    predictions were mapped into the data's schema (``to_schema``), else None;
    ``joint_mapping`` how the model's joints were mapped into the data's joint schema,
    ``top_down`` how many people a top-down run scored (else None), and ``keypoints_origin``
    where the data's keypoints come from when they are not its own annotations (a pose
    detector's: PCK then measures agreement with a teacher, not accuracy against hand labels)."""

    scores: ParsingScores | None
    sizes: dict[str, Any] | None
    count: int
    schema: LabelSchema | None
    pose: PCKAccumulator | None = None
    matrix: ConfusionMatrix | None = None
    cross_schema: str | None = None
    joint_mapping: JointMapping | None = None
    top_down: TopDownCount | None = None
    keypoints_origin: str | None = None


def _joints_into(model: JointSchema, data: JointSchema) -> JointMapping:
    """The model's joints into the data's joint schema by name; an error when none match."""
    mapping = joint_mapping(model, data)
    if not mapping.copied and not mapping.derived:
        raise UsageError(
            f"the model predicts joints of schema {model.name!r}, none of which is a joint of the data's "
            f"{data.name!r} (joints are matched by name)"
        )
    return mapping


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
    top_down: bool = False,
    pck_threshold: float = 0.5,
) -> Evaluation:
    """Score a model file on one split: parsing under the official protocol where the data has
    labels, and joints by PCK under the data's joint schema's rule when the model predicts them
    and the data has keypoints (the model's joints mapped into the data's schema by name).

    ``to_schema``: the data's labels are in another schema (a built-in name, or a mapping YAML
    from the model's schema); predictions are mapped into it and scored on the classes they
    can reach (:mod:`humanparse.evaluation.cross_schema`).
    ``top_down``: joints only, every annotated person predicted from its own box
    (:mod:`humanparse.evaluation.top_down`). ``pck_threshold``: a joint is correct within that
    fraction of the schema's reference length (0.5: PCK@0.5; 0.2 or 0.1 tell close models apart)."""
    saved = load_model(model_path, device=device)
    schema = saved.label_schema
    cross = None
    if to_schema is not None:
        if schema is None:
            raise UsageError("--to-schema maps parsing predictions, and this model predicts joints only")
        cross = CrossSchema(resolve_mapping(schema, to_schema))
        schema = cross.target
    if not get_format(data["format"]).pose_only:  # a pose-only format's schema names its joints
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
    # Pose-only data (MPII, COCO keypoints) has no labels to score a parsing model's labels by.
    parses = predicts_parsing(saved.model) and isinstance(data_schema, LabelSchema) and not top_down
    if cross is not None:
        schema = cross.scored_schema
    matrix = ConfusionMatrix(schema.num_classes, IGNORE_INDEX) if parses else None
    sizes = SizeBreakdown(schema.num_classes, IGNORE_INDEX) if parses else None
    pose = mapping = None
    if saved.joint_schema is not None and reader.joint_schema is not None:
        mapping = _joints_into(saved.joint_schema, reader.joint_schema)
        pose = PCKAccumulator(reader.joint_schema, pck_threshold)  # the data's PCK rule (LIP: neck-head; MPII: head box)
    if top_down:
        if pose is None:
            raise UsageError("--top-down scores joints: it needs a model that predicts them and data with keypoints")
        assert mapping is not None
        people = evaluate_top_down(predictor, reader, indices, pose, mapping, batch_size=batch_size, progress=progress)
        return Evaluation(
            None, None, len(indices), None, pose=pose, joint_mapping=mapping, top_down=people,
            keypoints_origin=reader.keypoints_origin,
        )
    if not parses and pose is None:
        if predicts_parsing(saved.model):
            raise DataError(data["root"], "this data has neither parsing labels nor keypoints to score the model by")
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
            if pose is not None and mapping is not None and pred.joints is not None:
                if sample.keypoints is None:
                    raise DataError(where, "no keypoints to score against")
                headbox = headboxes_of(sample.meta, pose.schema, 1)
                pose.update(
                    mapping.points(pred.joints[None, :, :2]), sample.keypoints[:1], None if headbox is None else headbox[:1]
                )
        bar.update(len(samples))
    bar.close()
    return Evaluation(
        scores=matrix.scores(absent) if matrix is not None else None,
        sizes=sizes.to_dict(absent) if sizes is not None else None,
        count=len(indices), schema=schema, pose=pose, matrix=matrix,
        cross_schema=cross.describe() if cross is not None else None, joint_mapping=mapping,
        keypoints_origin=reader.keypoints_origin if pose is not None else None,
    )


def _model_schema_table(result: Evaluation) -> tuple[JointSchema, dict[str, float | None]] | None:
    """The PCK table in the columns of the model's joint schema (LIP's for a LIP model on MPII),
    where that is another schema whose columns the data's joints cover."""
    pose, mapping = result.pose, result.joint_mapping
    if pose is None or mapping is None or mapping.source == pose.schema:
        return None
    try:
        columns = pose.table(mapping.source)
    except ValueError:
        return None
    return mapping.source, {name: (None if np.isnan(v[0]) else float(v[0])) for name, v in columns.items()}


def _pose_payload(result: Evaluation) -> dict[str, Any]:
    pose = result.pose
    assert pose is not None
    payload = {**pose.summary().to_dict(), "schema": pose.schema.name, "protocol": rule_text(pose.schema)}
    if result.joint_mapping is not None and result.joint_mapping.source != pose.schema:
        payload["joint_mapping"] = result.joint_mapping.describe()
        payload["model_joint_schema"] = result.joint_mapping.source.name
    other = _model_schema_table(result)
    if other is not None:
        payload["table_in_model_schema"] = other[1]
    if result.top_down is not None:
        payload["top_down"] = {**result.top_down.to_dict(), "protocol": result.top_down.describe()}
    if result.keypoints_origin is not None:
        payload["ground_truth"] = result.keypoints_origin  # it says they are a teacher's
    return payload


def _print_pose(result: Evaluation) -> None:
    pose = result.pose
    assert pose is not None
    summary = pose.summary()
    if result.joint_mapping is not None and result.joint_mapping.source != pose.schema:
        print(result.joint_mapping.describe(), file=sys.stderr)
    kind = "PCKh" if pose.schema.pck.kind == "headbox" else "PCK"
    against = "; against a teacher's keypoints, not hand labels" if result.keypoints_origin is not None else ""
    print(f"{kind}@{summary.threshold:g} (joint schema {pose.schema.name}; reference: {rule_text(pose.schema)}{against})")
    if result.top_down is None:
        print(format_pose_table(summary.table, summary.mean, "Mean"))
        if result.keypoints_origin is not None:
            print(f"ground truth: {result.keypoints_origin}")
        return
    # The LIP paper's Table 10: the columns, and "Total" for the mean.
    print(result.top_down.describe())
    print(format_pose_table(summary.table, summary.mean, "Total"))
    other = _model_schema_table(result)
    if other is not None:
        schema, columns = other
        head = dict(schema.table).get("Head")
        how = f": Head = {' and '.join(schema.joints[j] for j in head)}" if head else ""
        print(f"the same counts in the columns of the model's joint schema {schema.name}{how}")
        print(format_pose_table(columns, summary.mean, "Total"))
    print("per joint: " + ", ".join(
        f"{name} {'-' if value is None else f'{value:.1f}'}" for name, value in summary.per_joint.items()
    ))
    if result.keypoints_origin is not None:
        print(f"ground truth: {result.keypoints_origin}")


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
    if json_out:
        check_writable_file(json_out, "--json")
    resolve_device(options.get("device", "cpu"))
    result = evaluate_model(model_path, data, absent=absent, **options)
    if result.cross_schema is not None:
        print(result.cross_schema, file=sys.stderr)
    if result.scores is not None:
        print(format_parsing_table(result.scores, result.schema.classes, result.sizes or {}, result.count))
    if result.pose is not None:
        _print_pose(result)
    if json_out:
        if result.scores is not None:
            extra = {"pose": _pose_payload(result)} if result.pose is not None else {}
            write_parsing_json(
                json_out, result.scores, result.schema, result.sizes or {}, result.count, model=str(model_path), **extra
            )
        elif result.pose is not None:
            write_json(json_out, {**_pose_payload(result), "num_images": result.count, "model": str(model_path)})
    return 0


__all__ = ["Evaluation", "evaluate_model", "run_evaluate"]
