"""``humanparse score``: score prediction files under the official protocols, print the
papers' tables and write the scores as JSON."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.image_io import DataError, read_label
from ..errors import UsageError
from ..io import write_json
from ..data.readers.lip import read_lip_pose_csv
from ..data.readers.mpii import read_mpii_gt_mat
from ..schemas import IGNORE_INDEX, JointSchema, LabelSchema, get_joint_schema, get_label_schema, load_label_mapping
from .cross_schema import CrossSchema, resolve_mapping
from .parsing_metrics import ABSENT_CONVENTIONS, ConfusionMatrix, ParsingScores, SizeBreakdown
from .pose_metrics import PCKAccumulator, auc
from .prediction_files import read_pose_predictions_array, read_pose_predictions_csv

CONVENTION_TEXT = {
    "skip": "classes absent from both ground truth and prediction are left out of the means "
    "(official LIP scripts, mmsegmentation)",
    "zero": "classes absent from ground truth and prediction count as 0 in the means (denominators max(1, .))",
}

# AUC is reported over PCK thresholds 0..0.5 in steps of 0.01, as the MPII toolkit does.
AUC_THRESHOLDS = np.round(np.arange(0, 51) * 0.01, 2)


def _fmt(value: float | None, width: int = 7) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}.2f}"


# -- parsing ------------------------------------------------------------------------


def _label_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(folder, f"{what} folder does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")


def _pair_predictions(gt_files: Sequence[Path], pred_dir: Path) -> list[Path]:
    """The same-stem prediction PNG of every ground-truth label; all missing ones named at once."""
    if not pred_dir.is_dir():
        raise DataError(pred_dir, "prediction folder does not exist")
    by_stem = {p.stem: p for p in pred_dir.iterdir() if p.is_file() and p.suffix.lower() == ".png"}
    missing = [g for g in gt_files if g.stem not in by_stem]
    if missing:
        shown = ", ".join(g.stem + ".png" for g in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            pred_dir / f"{missing[0].stem}.png",
            f"prediction missing for {len(missing)} of {len(gt_files)} ground-truth labels ({shown})",
        )
    return [by_stem[g.stem] for g in gt_files]


def score_parsing_folders(
    gt_dir: Path, pred_dir: Path, schema: LabelSchema, progress: bool = True, cross: CrossSchema | None = None
) -> tuple[ConfusionMatrix, SizeBreakdown, int]:
    """Accumulate every ground-truth PNG of ``gt_dir`` against its same-stem prediction.

    Labels are compared at the ground truth's own size, never resized; a prediction must
    give a class (not 255) to every pixel the ground truth counts. With ``cross``, predictions
    are in ``cross.mapping.source`` and ground truth in ``schema`` (its target); both are scored
    in ``cross.scored_schema``.
    """
    from tqdm import tqdm

    gt_files = _label_files(gt_dir, "ground-truth")
    if not gt_files:
        raise DataError(gt_dir, "no ground-truth label PNGs found")
    pred_files = _pair_predictions(gt_files, pred_dir)
    n = schema.num_classes
    n_pred = cross.mapping.source.num_classes if cross is not None else n
    n_scored = cross.scored_schema.num_classes if cross is not None else n
    matrix = ConfusionMatrix(n_scored, IGNORE_INDEX)
    sizes = SizeBreakdown(n_scored, IGNORE_INDEX)
    for gt_path, pred_path in tqdm(
        list(zip(gt_files, pred_files)), desc="scoring", unit="img", disable=None if progress else True
    ):
        gt = read_label(gt_path, num_classes=n)
        pred = read_label(pred_path, num_classes=n_pred)
        if pred.shape != gt.shape:
            raise DataError(
                pred_path,
                f"prediction is {pred.shape[1]}x{pred.shape[0]} but ground truth {gt_path.name} is "
                f"{gt.shape[1]}x{gt.shape[0]} (W x H); labels are scored at the ground truth's size, never resized",
            )
        unlabelled = int(((pred == IGNORE_INDEX) & (gt != IGNORE_INDEX)).sum())
        if unlabelled:
            raise DataError(pred_path, f"prediction holds 255 (ignore) at {unlabelled} pixels the ground truth labels")
        if cross is not None:
            pred, gt = cross.scored_prediction(pred), cross.scored_ground_truth(gt)
        matrix.update(pred, gt)
        sizes.update(pred, gt)
    return matrix, sizes, len(gt_files)


def format_parsing_table(
    scores: ParsingScores, class_names: Sequence[str], sizes: dict[str, dict[str, Any]] | None = None,
    num_images: int | None = None,
) -> str:
    width = max(12, max(len(c) for c in class_names))
    lines = [f"{'class':<{width}} {'IoU':>7} {'Acc':>7}"]
    for name, iou, acc in zip(class_names, scores.per_class_iou, scores.per_class_accuracy):
        lines.append(f"{name:<{width}} {_fmt(100 * iou)} {_fmt(100 * acc)}")
    lines.append("-" * (width + 16))
    for label, value in (
        ("pixel acc", scores.pixel_accuracy), ("mean acc", scores.mean_accuracy),
        ("mIoU", scores.miou), ("FWIoU", scores.fwiou),
    ):
        lines.append(f"{label:<{width}} {_fmt(100 * value)}")
    if sizes:
        lines.append("mIoU by person size (LIP Table 8: small < 153^2, medium < 321^2, large >= 321^2 px):")
        for bucket, entry in sizes.items():
            lines.append(f"  {bucket:<{width - 2}} {_fmt(entry['miou'])}  ({entry['num_images']} images)")
    count = f"{num_images} images; " if num_images is not None else ""
    lines.append(f"{count}absent classes: {scores.convention}: {CONVENTION_TEXT[scores.convention]}")
    if scores.convention == "skip":
        lines.append(
            "'-' = undefined, left out of the means "
            "(Acc: no ground truth; IoU: in neither ground truth nor prediction)"
        )
    return "\n".join(line for line in lines if line)


def run_score_parsing(
    gt_dir: Path, pred_dir: Path, schema: str, json_out: str | None, absent: str, pred_schema: str | None = None
) -> int:
    """``humanparse score parsing``: print the table, optionally write JSON; 0 on success.
    ``pred_schema``: the predictions are in that schema and are mapped into ``schema`` (a
    built-in mapping by name, or a mapping YAML; see :mod:`.cross_schema`)."""
    if absent not in ABSENT_CONVENTIONS:
        raise UsageError(f"--absent must be one of {ABSENT_CONVENTIONS}, not {absent!r}")
    label_schema = get_label_schema(schema)
    cross = None
    if pred_schema is not None:
        source = get_label_schema(pred_schema) if not str(pred_schema).endswith((".yaml", ".yml")) else None
        mapping = (resolve_mapping(source, label_schema) if source is not None else load_label_mapping(pred_schema))
        if mapping.target.classes != label_schema.classes:
            raise UsageError(f"the mapping goes to {mapping.target.name!r}, but the ground truth is {label_schema.name!r}")
        cross = CrossSchema(mapping)
        print(cross.describe(), file=sys.stderr)
    matrix, sizes, num_images = score_parsing_folders(Path(gt_dir), Path(pred_dir), label_schema, cross=cross)
    if cross is not None:
        label_schema = cross.scored_schema
    scores = matrix.scores(absent)
    size_table = sizes.to_dict(absent)
    print(format_parsing_table(scores, label_schema.classes, size_table, num_images))
    if json_out:
        write_parsing_json(json_out, scores, label_schema, size_table, num_images)
    return 0


def write_parsing_json(
    path: str | Path, scores: ParsingScores, schema: LabelSchema, size_table: dict[str, Any], num_images: int,
    **extra: Any,
) -> None:
    """The JSON of ``score parsing`` and ``evaluate``: percentages, counts and the protocol."""
    payload = scores.to_dict(schema.classes, percent=True)
    payload.update(
        {
            "num_images": num_images,
            "schema": schema.name,
            "size_breakdown": size_table,
            **extra,
            "protocol": "one confusion matrix over all ground-truth pixels != 255, at the ground truth's size",
        }
    )
    write_json(path, payload)


# -- pose ---------------------------------------------------------------------------


def _name_key(name: str) -> str:
    """Rows are matched by image name without its extension (``a.jpg`` = ``a``)."""
    return Path(name).stem


def _lip_rows(
    gt_path: Path, pred_path: Path, num_joints: int
) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Ground truth (N, K, 3) and aligned predictions (N, K, 2) from LIP-style CSVs.

    A ground-truth row with no prediction row gets NaN predictions, so its annotated
    joints count as wrong (a method that gives no answer is not let off); prediction rows
    for images not in the ground truth are ignored. Returns (gt, pred, number of GT rows
    without prediction, names of ignored prediction rows).
    """
    gt_rows = read_lip_pose_csv(gt_path, num_joints)
    if not gt_rows:
        raise DataError(gt_path, "pose CSV has no rows")
    if pred_path.suffix.lower() != ".csv":
        raise DataError(pred_path, f"predictions for a CSV ground truth must be a CSV, not {pred_path.suffix!r}")
    pred_rows = read_pose_predictions_csv(pred_path, num_joints)
    preds_by_key: dict[str, np.ndarray] = {}
    for name, joints in pred_rows.items():
        key = _name_key(name)
        if key in preds_by_key:
            raise DataError(pred_path, f"image {key!r} has two prediction rows")
        preds_by_key[key] = joints
    gt_keys = {_name_key(n) for n in gt_rows}
    gt = np.stack(list(gt_rows.values())).astype(np.float64)
    pred = np.full(gt.shape[:2] + (2,), np.nan)
    num_missing = 0
    for i, name in enumerate(gt_rows):
        joints = preds_by_key.get(_name_key(name))
        if joints is None:
            num_missing += 1
        else:
            pred[i] = joints
    unknown = [n for n in pred_rows if _name_key(n) not in gt_keys]
    return gt, pred, num_missing, unknown


def format_pose_table(columns: dict[str, float | None], mean: float | None, mean_label: str) -> str:
    names = list(columns) + [mean_label]
    width = max(7, *(len(n) + 1 for n in names))
    header = "".join(f"{n:>{width}}" for n in names)
    values = "".join(_fmt(v, width) for v in list(columns.values()) + [mean])
    return header + "\n" + values


def run_score_pose(gt: Path, pred: Path, json_out: str | None, threshold: float, schema: str | None) -> int:
    """``humanparse score pose``: PCK / PCKh of predicted joints; 0 on success.

    MPII: a ground-truth .mat (``pos_gt_src``, ``jnt_missing``, ``headboxes_src``) against a
    .mat with ``pos_pred_src`` (16, 2, N) or ``preds`` (N, 16, 2), or a .npy (N, 16, 2);
    default schema ``mpii``. LIP: the pose CSV against a CSV ``name,x1,y1,...``; default
    schema ``lip``.
    """
    gt, pred = Path(gt), Path(pred)
    if not (threshold >= 0 and math.isfinite(threshold)):
        raise UsageError(f"--threshold must be a non-negative number, not {threshold}")
    suffix = gt.suffix.lower()
    if suffix not in (".mat", ".csv"):
        raise DataError(gt, f"pose ground truth must be an MPII .mat or a LIP pose CSV, not {gt.suffix!r}")
    joint_schema: JointSchema = get_joint_schema(schema or ("mpii" if suffix == ".mat" else "lip"))
    k = joint_schema.num_joints
    thresholds = np.unique(np.append(AUC_THRESHOLDS, threshold))
    acc = PCKAccumulator(joint_schema, thresholds)
    num_missing = 0
    unknown: list[str] = []
    if suffix == ".mat":
        ann = read_mpii_gt_mat(gt)
        if ann.gt.shape[1] != k:
            raise DataError(gt, f"ground truth has {ann.gt.shape[1]} joints but schema {joint_schema.name!r} has {k}")
        predictions = read_pose_predictions_array(pred, k)
        if predictions.shape[0] != ann.gt.shape[0]:
            raise DataError(
                pred, f"{predictions.shape[0]} predicted people for {ann.gt.shape[0]} in the ground truth {gt.name}"
            )
        acc.update(predictions, ann.keypoints(), ann.headboxes)
    else:
        if joint_schema.pck.kind == "headbox":
            raise DataError(gt, f"schema {joint_schema.name!r} needs head boxes, which a pose CSV does not have")
        gt_kp, predictions, num_missing, unknown = _lip_rows(gt, pred, k)
        acc.update(predictions, gt_kp)
    summary = acc.summary(threshold)
    mean_label = "PCKh" if joint_schema.pck.kind == "headbox" else "PCK"
    print(f"{mean_label}@{threshold:g}  (schema {joint_schema.name}; reference: {rule_text(joint_schema)})")
    print(format_pose_table(summary.table, summary.mean, "Mean"))
    auc_value = _auc_over_grid(acc)
    kept = summary.num_rows - summary.num_dropped
    print(f"{kept} of {summary.num_rows} people scored ({summary.num_dropped} without a reference length dropped); "
          f"AUC@0-0.5 {_fmt(auc_value, 0).strip()}")
    if num_missing:
        print(
            f"warning: {num_missing} ground-truth rows have no prediction; their joints count as wrong",
            file=sys.stderr,
        )
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        print(f"warning: {len(unknown)} prediction rows name images not in the ground truth, ignored ({shown})",
              file=sys.stderr)
    if json_out:
        payload = summary.to_dict()
        payload.update(
            {
                "threshold": threshold,
                "schema": joint_schema.name,
                "auc": auc_value,
                "auc_thresholds": [float(AUC_THRESHOLDS[0]), float(AUC_THRESHOLDS[-1])],
                "num_missing_predictions": num_missing,
                "num_unknown_predictions": len(unknown),
                "protocol": rule_text(joint_schema),
            }
        )
        write_json(json_out, payload)
    return 0


def _auc_over_grid(acc: PCKAccumulator) -> float | None:
    """AUC of the mean PCK over AUC_THRESHOLDS only (the accumulator may hold one more)."""
    index = [int(np.flatnonzero(np.isclose(acc.thresholds, t, rtol=0, atol=1e-9))[0]) for t in AUC_THRESHOLDS]
    value = auc(AUC_THRESHOLDS, acc.mean()[index])
    return None if math.isnan(value) else value


def rule_text(schema: JointSchema) -> str:
    """The schema's PCK rule in words, for tables and JSON."""
    rule = schema.pck
    if rule.kind == "headbox":
        text = f"{rule.factor:g} x head-box diagonal"
    else:
        assert rule.joints is not None
        a, b = rule.joints
        text = f"{rule.factor:g} x |{schema.joints[a]} - {schema.joints[b]}| (rows missing either dropped)"
    excluded = ", ".join(schema.joints[j] for j in schema.mean_excluded)
    return text + (f"; mean over annotated joints except {excluded}" if excluded else "; mean over annotated joints")
