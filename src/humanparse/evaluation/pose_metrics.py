"""Pose metrics: PCK / PCKh under the rule a joint schema names, its AUC, and the
per-joint table as the papers print it.

The rule comes from ``JointSchema.pck``:

``kind="headbox"`` (MPII PCKh)
    Reference length = factor (0.6) × the head-box diagonal ‖corner 2 − corner 1‖.
``kind="joints"`` (LIP PCK as the PIL authors compute it; COCO's torso rule)
    Reference length = factor × the distance between the two named ground-truth joints
    (LIP: upper neck 8 and head top 9). Rows missing either joint are dropped.

Under both, rows whose reference length is not a positive finite number are dropped
(and counted in ``num_dropped``); a joint counts only where the ground truth annotates
it; it is correct when distance / reference ≤ threshold; a prediction that is NaN
(not given) is wrong. Per-joint PCK = 100 × correct / annotated; the mean pools every
joint not in ``JointSchema.mean_excluded`` (the mean over joints weighted by their
annotated counts); a table column is the plain average of its joints' PCK, as the
MPII and LIP evaluation scripts print "Shoulder" = (left + right) / 2, except the columns in
``JointSchema.table_pooled``, which pool like the mean (LIP's "U.Body", joints 8-15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..data.sample import MISSING
from ..schemas import JointSchema, get_joint_schema
from ..schemas.mappings import canonical_joint
from ._counts import distributed, sum_over_ranks


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def reference_lengths(schema: JointSchema, gt: np.ndarray, headboxes: np.ndarray | None = None) -> np.ndarray:
    """(N,) reference length of each row under ``schema.pck``; NaN where undefined.

    gt: (N, K, 3) keypoints (x, y, flag); headboxes: (N, 2, 2) two corners (x, y),
    needed by the "headbox" rule.
    """
    rule = schema.pck
    if rule.kind == "headbox":
        if headboxes is None:
            raise ValueError(f"joint schema {schema.name!r} measures PCK against head boxes; give headboxes (N, 2, 2)")
        boxes = _to_numpy(headboxes)
        if boxes.shape != (gt.shape[0], 2, 2):
            raise ValueError(f"headboxes have shape {boxes.shape}, expected ({gt.shape[0]}, 2, 2)")
        length = rule.factor * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)
    else:
        assert rule.joints is not None
        a, b = rule.joints
        annotated = _annotated(gt)
        length = rule.factor * np.linalg.norm(gt[:, a, :2] - gt[:, b, :2], axis=1)
        length[~(annotated[:, a] & annotated[:, b])] = np.nan
    length = length.astype(np.float64)
    length[~(np.isfinite(length) & (length > 0))] = np.nan
    return length


def _annotated(gt: np.ndarray) -> np.ndarray:
    return (gt[..., 2] != MISSING) & np.isfinite(gt[..., 0]) & np.isfinite(gt[..., 1])


def normalized_distances(
    schema: JointSchema, pred: Any, gt: Any, headboxes: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances in units of the reference length.

    Returns (distance (N, K), annotated (N, K) bool, kept (N,) bool): ``annotated`` is
    False on dropped rows; ``distance`` is NaN where the prediction is NaN.
    """
    pred = _to_numpy(pred)
    gt = _to_numpy(gt)
    k = schema.num_joints
    if gt.ndim != 3 or gt.shape[1:] != (k, 3):
        raise ValueError(f"ground-truth keypoints must be (N, {k}, 3) for schema {schema.name!r}, got {gt.shape}")
    if pred.ndim != 3 or pred.shape[0] != gt.shape[0] or pred.shape[1] != k or pred.shape[2] not in (2, 3):
        raise ValueError(f"predicted keypoints must be ({gt.shape[0]}, {k}, 2), got {pred.shape}")
    length = reference_lengths(schema, gt, headboxes)
    kept = ~np.isnan(length)
    annotated = _annotated(gt) & kept[:, None]
    with np.errstate(invalid="ignore"):
        distance = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=2) / length[:, None]
    return distance, annotated, kept


def auc(thresholds: Sequence[float], values: Sequence[float]) -> float:
    """Area under a PCK curve, normalised by the threshold range (trapezoid rule), in the
    units of ``values``: a curve at 100 % everywhere has AUC 100."""
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape or t.size < 2:
        raise ValueError("AUC needs at least two thresholds and one value per threshold")
    order = np.argsort(t)
    t, v = t[order], v[order]
    span = t[-1] - t[0]
    if span <= 0:
        raise ValueError("AUC needs thresholds spanning a positive range")
    return float(np.sum((v[1:] + v[:-1]) * np.diff(t)) / 2.0 / span)


@dataclass(frozen=True)
class PCKSummary:
    """Scores at one threshold, in percent; None where no joint was annotated."""

    threshold: float
    per_joint: dict[str, float | None]
    table: dict[str, float | None]
    mean: float | None
    annotated: dict[str, int]
    num_rows: int
    num_dropped: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "per_joint": dict(self.per_joint),
            "table": dict(self.table),
            "threshold": self.threshold,
            "annotated": dict(self.annotated),
            "num_rows": self.num_rows,
            "num_dropped": self.num_dropped,
        }


def _percent(correct: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(correct, annotated).shape, np.nan)
    np.divide(100.0 * correct, annotated, out=out, where=annotated > 0)
    return out


def _none_if_nan(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


class PCKAccumulator:
    """Counts of correct and annotated joints at several thresholds, merged like a
    confusion matrix (``merge`` / ``+`` / ``all_reduce``).

    ``update(pred, gt, headboxes)`` takes pred (N, K, 2), gt keypoints (N, K, 3) with the
    flags of :mod:`humanparse.data.sample`, and headboxes (N, 2, 2) when the schema's
    rule needs them; numpy arrays or torch tensors.
    """

    def __init__(self, schema: JointSchema | str, thresholds: float | Sequence[float] = 0.5):
        self.schema = get_joint_schema(schema)
        t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"PCK thresholds must be non-negative numbers, got {thresholds!r}")
        self.thresholds = t
        k = self.schema.num_joints
        self.correct = np.zeros((t.size, k), dtype=np.int64)
        self.annotated = np.zeros(k, dtype=np.int64)
        self.num_rows = 0
        self.num_dropped = 0

    def update(self, pred: Any, gt: Any, headboxes: Any = None) -> None:
        distance, annotated, kept = normalized_distances(self.schema, pred, gt, headboxes)
        with np.errstate(invalid="ignore"):
            hits = (distance[None] <= self.thresholds[:, None, None]) & annotated[None]
        self.correct += hits.sum(axis=1)
        self.annotated += annotated.sum(axis=0)
        self.num_rows += int(kept.size)
        self.num_dropped += int((~kept).sum())

    def _check_compatible(self, other: "PCKAccumulator") -> None:
        if not isinstance(other, PCKAccumulator):
            raise TypeError(f"cannot merge a PCKAccumulator with {type(other).__name__}")
        if other.schema != self.schema or not np.array_equal(other.thresholds, self.thresholds):
            raise ValueError("cannot merge PCK accumulators of different schemas or thresholds")

    def merge(self, other: "PCKAccumulator") -> "PCKAccumulator":
        self._check_compatible(other)
        out = PCKAccumulator(self.schema, self.thresholds)
        out.correct = self.correct + other.correct
        out.annotated = self.annotated + other.annotated
        out.num_rows = self.num_rows + other.num_rows
        out.num_dropped = self.num_dropped + other.num_dropped
        return out

    def __add__(self, other: "PCKAccumulator") -> "PCKAccumulator":
        return self.merge(other)

    def all_reduce(self) -> "PCKAccumulator":
        """Sum the counts over ``torch.distributed`` ranks, in place (no-op when not initialised)."""
        if not distributed():
            return self
        counts = [self.correct.ravel(), self.annotated, [self.num_rows, self.num_dropped]]
        values = sum_over_ranks(np.concatenate(counts))
        n = self.correct.size
        self.correct = values[:n].reshape(self.correct.shape)
        self.annotated = values[n : n + self.annotated.size]
        self.num_rows, self.num_dropped = int(values[-2]), int(values[-1])
        return self

    # -- reading --------------------------------------------------------------------

    def pck(self) -> np.ndarray:
        """(T, K) per-joint PCK in percent; NaN for joints never annotated."""
        return _percent(self.correct, self.annotated[None])

    def _mean_joints(self) -> np.ndarray:
        keep = np.ones(self.schema.num_joints, dtype=bool)
        keep[list(self.schema.mean_excluded)] = False
        return keep

    def mean(self) -> np.ndarray:
        """(T,) mean PCK in percent, pooled over the joints not in ``mean_excluded``."""
        keep = self._mean_joints()
        return _percent(self.correct[:, keep].sum(axis=1), self.annotated[keep].sum())

    def table(self, schema: JointSchema | None = None) -> dict[str, np.ndarray]:
        """Column name -> (T,) PCK: each column the plain average of its joints' PCK, or their
        pooled PCK for the schema's ``table_pooled`` columns. With ``schema``, the columns of
        that joint schema's table (LIP's, for MPII counts), its joints found here by name."""
        columns = self.schema if schema is None else schema
        index = {canonical_joint(n): i for i, n in enumerate(self.schema.joints)}
        pck = self.pck()
        out = {}
        for column, members in columns.table:
            names = [canonical_joint(columns.joints[j]) for j in members]
            absent = [n for n in names if n not in index]
            if absent:
                raise ValueError(f"column {column!r} of schema {columns.name!r} needs {absent}, which {self.schema.name!r} lacks")
            m = [index[n] for n in names]
            if column in columns.table_pooled:
                out[column] = _percent(self.correct[:, m].sum(axis=1), self.annotated[m].sum())
            else:
                out[column] = pck[:, m].mean(axis=1)
        return out

    def auc(self) -> float:
        """Area under the mean-PCK curve over this accumulator's thresholds, normalised
        by their range (percent)."""
        return auc(self.thresholds, self.mean())

    def _index(self, threshold: float | None) -> int:
        if threshold is None:
            if self.thresholds.size != 1:
                raise ValueError(f"give a threshold: this accumulator holds {self.thresholds.tolist()}")
            return 0
        hits = np.flatnonzero(np.isclose(self.thresholds, threshold, rtol=0, atol=1e-9))
        if hits.size == 0:
            raise ValueError(f"threshold {threshold} was not accumulated (have {self.thresholds.tolist()})")
        return int(hits[0])

    def summary(self, threshold: float | None = None) -> PCKSummary:
        i = self._index(threshold)
        names = self.schema.joints
        pck = self.pck()[i]
        return PCKSummary(
            threshold=float(self.thresholds[i]),
            per_joint={n: _none_if_nan(v) for n, v in zip(names, pck)},
            table={c: _none_if_nan(v[i]) for c, v in self.table().items()},
            mean=_none_if_nan(self.mean()[i]),
            annotated={n: int(c) for n, c in zip(names, self.annotated)},
            num_rows=self.num_rows,
            num_dropped=self.num_dropped,
        )
