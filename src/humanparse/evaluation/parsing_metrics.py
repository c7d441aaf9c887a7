"""Parsing metrics: a confusion matrix accumulated over a whole split, and the scores
read from it (pixel accuracy, mean accuracy, per-class and mean IoU, frequency-weighted
IoU), with the LIP object-size breakdown.

Two conventions exist for classes that do not occur, and they change the numbers, so
every score says which one it used:

``"skip"`` (the official LIP scripts, mmsegmentation)
    A per-class ratio whose denominator is 0 is undefined (NaN) and left out of the
    mean. For mean accuracy that is every class with no ground-truth pixel (gt = 0),
    whatever was predicted; for IoU it is every class with gt + pred - tp = 0, i.e.
    absent from both ground truth and prediction. A class predicted but not in the
    ground truth therefore has IoU 0 and does pull mIoU down, but is left out of mean
    accuracy.
``"zero"`` (the most used human-parsing tool)
    Every denominator is max(1, ...), so those same undefined ratios count as 0 and
    the means run over all classes.

Pixel accuracy and frequency-weighted IoU are the same under both conventions (absent
classes have zero weight), except that an empty matrix gives NaN under "skip" and 0
under "zero".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..schemas.base import IGNORE_INDEX, LabelSchema
from ._counts import distributed, sum_over_ranks

ABSENT_CONVENTIONS = ("skip", "zero")

# Person-area limits of the LIP object-size breakdown (LIP paper, Table 8), in pixels.
SIZE_BUCKETS = ("small", "medium", "large")
SMALL_AREA_LIMIT = 153 * 153
MEDIUM_AREA_LIMIT = 321 * 321


def _is_tensor(x: Any) -> bool:
    try:
        import torch
    except ImportError:  # numpy-only use
        return False
    return isinstance(x, torch.Tensor)


def _check_convention(absent: str) -> None:
    if absent not in ABSENT_CONVENTIONS:
        raise ValueError(f"absent-class convention must be one of {ABSENT_CONVENTIONS}, not {absent!r}")


class ConfusionMatrix:
    """Pixel counts ``matrix[g, p]`` of ground-truth class g predicted as class p.

    ``update`` takes numpy arrays or torch tensors of any (equal) shape; ground-truth
    pixels equal to ``ignore_index`` are left out. Tensors are counted with
    ``torch.bincount`` on their own device and stay there until ``matrix`` is read, so
    a GPU evaluation loop does not copy label maps to the host. Accumulators from
    different batches or processes combine with ``merge`` / ``+``, or in place across
    ``torch.distributed`` ranks with ``all_reduce``.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX):
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, not {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self._host = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self._device_counts: Any = None  # torch int64 (n*n,) on the device of the last tensor update

    # -- accumulation ---------------------------------------------------------------

    def update(self, pred: Any, gt: Any) -> None:
        """Count one batch. ``pred`` and ``gt`` hold class ids and have the same shape.

        Predicted ids must lie in 0..num_classes-1 wherever the ground truth is counted;
        ground-truth ids must lie there too, or equal ``ignore_index``.
        """
        if _is_tensor(pred) or _is_tensor(gt):
            self._update_torch(pred, gt)
        else:
            self._update_numpy(np.asarray(pred), np.asarray(gt))

    def _check_shapes(self, pred_shape: Sequence[int], gt_shape: Sequence[int]) -> None:
        if tuple(pred_shape) != tuple(gt_shape):
            raise ValueError(f"prediction shape {tuple(pred_shape)} differs from ground-truth shape {tuple(gt_shape)}")

    def _update_numpy(self, pred: np.ndarray, gt: np.ndarray) -> None:
        self._check_shapes(pred.shape, gt.shape)
        for name, arr in (("prediction", pred), ("ground truth", gt)):
            if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
                raise ValueError(f"{name} must hold integer class ids, not {arr.dtype}")
        n = self.num_classes
        gt = gt.reshape(-1).astype(np.int64, copy=False)
        pred = pred.reshape(-1).astype(np.int64, copy=False)
        if self.ignore_index is not None:
            keep = gt != self.ignore_index
            gt, pred = gt[keep], pred[keep]
        bad_gt = (gt < 0) | (gt >= n)
        if bad_gt.any():
            raise ValueError(
                f"ground-truth ids {np.unique(gt[bad_gt]).tolist()} are outside 0..{n - 1}"
                + (f" and are not the ignore index {self.ignore_index}" if self.ignore_index is not None else "")
            )
        bad_pred = (pred < 0) | (pred >= n)
        if bad_pred.any():
            raise ValueError(
                f"predicted ids {np.unique(pred[bad_pred]).tolist()} are outside 0..{n - 1} "
                f"at {int(bad_pred.sum())} counted pixels"
            )
        self._host += np.bincount(gt * n + pred, minlength=n * n).reshape(n, n)

    def _update_torch(self, pred: Any, gt: Any) -> None:
        import torch

        if not _is_tensor(pred):
            pred = torch.as_tensor(np.asarray(pred), device=gt.device)
        if not _is_tensor(gt):
            gt = torch.as_tensor(np.asarray(gt), device=pred.device)
        if pred.device != gt.device:
            raise ValueError(f"prediction is on {pred.device} but ground truth on {gt.device}")
        self._check_shapes(pred.shape, gt.shape)
        for name, t in (("prediction", pred), ("ground truth", gt)):
            if t.is_floating_point() or t.is_complex():
                raise ValueError(f"{name} must hold integer class ids, not {t.dtype}")
        n = self.num_classes
        gt = gt.reshape(-1).long()
        pred = pred.reshape(-1).long()
        if self.ignore_index is not None:
            keep = gt != self.ignore_index
            gt, pred = gt[keep], pred[keep]
        # Out-of-range pixels go to one extra bin, so a single read checks them all.
        bad = (gt < 0) | (gt >= n) | (pred < 0) | (pred >= n)
        index = torch.where(bad, torch.full_like(gt, n * n), gt * n + pred)
        counts = torch.bincount(index, minlength=n * n + 1)
        num_bad = int(counts[n * n])
        if num_bad:
            bad_gt = torch.unique(gt[(gt < 0) | (gt >= n)]).tolist()
            bad_pred = torch.unique(pred[(pred < 0) | (pred >= n)]).tolist()
            raise ValueError(
                f"{num_bad} counted pixels hold ids outside 0..{n - 1} "
                f"(ground truth {bad_gt}, prediction {bad_pred})"
            )
        counts = counts[: n * n]
        if self._device_counts is not None and self._device_counts.device != counts.device:
            self._flush_device()
        self._device_counts = counts if self._device_counts is None else self._device_counts + counts

    def _flush_device(self) -> None:
        if self._device_counts is not None:
            n = self.num_classes
            self._host += self._device_counts.cpu().numpy().astype(np.int64).reshape(n, n)
            self._device_counts = None

    # -- combining ------------------------------------------------------------------

    def _check_compatible(self, other: "ConfusionMatrix") -> None:
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"cannot merge a ConfusionMatrix with {type(other).__name__}")
        if other.num_classes != self.num_classes or other.ignore_index != self.ignore_index:
            raise ValueError(
                f"cannot merge confusion matrices of {self.num_classes} / {other.num_classes} classes "
                f"(ignore {self.ignore_index} / {other.ignore_index})"
            )

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """A new accumulator holding both counts."""
        self._check_compatible(other)
        out = ConfusionMatrix(self.num_classes, self.ignore_index)
        out._host = self.matrix + other.matrix
        return out

    def __add__(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        return self.merge(other)

    def __iadd__(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        self._check_compatible(other)
        self._host += other.matrix
        return self

    def all_reduce(self) -> "ConfusionMatrix":
        """Sum the counts over all ``torch.distributed`` ranks, in place (a no-op when
        torch.distributed is not initialised). Every rank must call it."""
        if not distributed():
            return self
        self._host = sum_over_ranks(self.matrix, self._device_counts)
        self._device_counts = None
        return self

    def reset(self) -> None:
        self._host[:] = 0
        self._device_counts = None

    # -- reading --------------------------------------------------------------------

    @property
    def matrix(self) -> np.ndarray:
        """(num_classes, num_classes) int64 counts, rows = ground truth, columns = prediction."""
        self._flush_device()
        return self._host.copy()

    @property
    def total(self) -> int:
        """Number of counted (non-ignored) pixels."""
        return int(self.matrix.sum())

    def scores(self, absent: str = "skip") -> "ParsingScores":
        return parsing_scores(self.matrix, absent)

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, total={self.total})"


@dataclass(frozen=True)
class ParsingScores:
    """Scores as fractions in 0..1 (NaN where undefined under the "skip" convention).

    per_class_iou / per_class_accuracy: (num_classes,) arrays; gt_pixels / pred_pixels:
    per-class pixel counts they were computed from.
    """

    pixel_accuracy: float
    mean_accuracy: float
    miou: float
    fwiou: float
    per_class_iou: np.ndarray
    per_class_accuracy: np.ndarray
    gt_pixels: np.ndarray
    pred_pixels: np.ndarray
    convention: str

    def to_dict(self, class_names: Sequence[str] | None = None, percent: bool = True) -> dict[str, Any]:
        """JSON-ready scores; NaN becomes None; ×100 when ``percent`` (as papers print)."""
        scale = 100.0 if percent else 1.0
        names = list(class_names) if class_names is not None else [str(i) for i in range(len(self.per_class_iou))]
        if len(names) != len(self.per_class_iou):
            raise ValueError(f"{len(names)} class names for {len(self.per_class_iou)} classes")
        return {
            "pixel_accuracy": _json_number(self.pixel_accuracy, scale),
            "mean_accuracy": _json_number(self.mean_accuracy, scale),
            "miou": _json_number(self.miou, scale),
            "fwiou": _json_number(self.fwiou, scale),
            "per_class_iou": {n: _json_number(v, scale) for n, v in zip(names, self.per_class_iou)},
            "per_class_accuracy": {n: _json_number(v, scale) for n, v in zip(names, self.per_class_accuracy)},
            "convention": self.convention,
        }


def _json_number(value: float, scale: float = 1.0) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value * scale


def _ratio(num: np.ndarray, den: np.ndarray, absent: str) -> np.ndarray:
    """num / den; where den is 0: NaN ("skip") or, via max(1, den), 0 ("zero")."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    if absent == "zero":
        return num / np.maximum(1.0, den)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _mean(values: np.ndarray, absent: str) -> float:
    if absent == "skip":
        values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def parsing_scores(matrix: np.ndarray, absent: str = "skip") -> ParsingScores:
    """Scores of a confusion matrix (rows ground truth, columns prediction).

    pixel accuracy = Σtp / Σgt; per-class accuracy = tp / gt; IoU = tp / (gt + pred - tp);
    mean accuracy and mIoU are their means over classes; frequency-weighted IoU =
    Σ (gt / Σgt) · IoU. See the module docstring for ``absent`` ("skip" or "zero").
    """
    _check_convention(absent)
    matrix = np.asarray(matrix, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {matrix.shape}")
    tp = np.diag(matrix).astype(np.float64)
    gt = matrix.sum(axis=1).astype(np.float64)
    pred = matrix.sum(axis=0).astype(np.float64)
    union = gt + pred - tp
    total = gt.sum()
    per_class_accuracy = _ratio(tp, gt, absent)
    per_class_iou = _ratio(tp, union, absent)
    pixel_accuracy = float(_ratio(tp.sum(), total, absent))
    # Classes with no ground truth have zero weight; skip them so NaN IoUs do not spread.
    present = gt > 0
    if total > 0:
        fwiou = float(np.sum(gt[present] / total * per_class_iou[present]))
    else:
        fwiou = float("nan") if absent == "skip" else 0.0
    return ParsingScores(
        pixel_accuracy=pixel_accuracy,
        mean_accuracy=_mean(per_class_accuracy, absent),
        miou=_mean(per_class_iou, absent),
        fwiou=fwiou,
        per_class_iou=per_class_iou,
        per_class_accuracy=per_class_accuracy,
        gt_pixels=gt.astype(np.int64),
        pred_pixels=pred.astype(np.int64),
        convention=absent,
    )


def left_right_confusion(matrix: np.ndarray, schema: LabelSchema) -> float:
    """Share of the pixels of the schema's left/right classes that are predicted as their
    mirror partner (a left arm called a right arm, and vice versa), pooled over all pairs;
    NaN when the ground truth holds no such pixel. ``matrix``: rows = ground truth."""
    m = np.asarray(matrix, dtype=np.float64)
    swapped = sum(m[a, b] + m[b, a] for a, b in schema.flip_pairs)
    total = sum(m[a].sum() + m[b].sum() for a, b in schema.flip_pairs)
    return float(swapped / total) if total else float("nan")


def majority_scores(labels: Sequence[np.ndarray], num_classes: int, absent: str = "skip") -> ParsingScores:
    """Scores of predicting the most frequent class (ignoring 255) everywhere: the bar a
    trained parser must clear, since plain cross-entropy first learns exactly that."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for label in labels:
        values = np.asarray(label).ravel()
        counts += np.bincount(values[values < num_classes], minlength=num_classes)[:num_classes]
    matrix = ConfusionMatrix(num_classes)
    for label in labels:
        matrix.update(np.full_like(label, int(counts.argmax())), label)
    return matrix.scores(absent)


def size_bucket(person_area: int) -> str:
    """LIP paper's object-size bucket of a person area in pixels:
    small < 153², medium < 321², large ≥ 321²."""
    if person_area < SMALL_AREA_LIMIT:
        return "small"
    if person_area < MEDIUM_AREA_LIMIT:
        return "medium"
    return "large"


class SizeBreakdown:
    """The LIP object-size breakdown: one confusion matrix per person-size bucket.

    Each image's person area is the number of its ground-truth pixels that are neither
    background nor ignored; the whole image's counts go into that area's bucket, and
    each bucket is scored like a split of its own (LIP paper, Table 8 reports mIoU).
    ``background_index`` is the schema's background class (0 in every built-in schema).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX, background_index: int = 0):
        if not 0 <= background_index < num_classes:
            raise ValueError(f"background index {background_index} is outside 0..{num_classes - 1}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.background_index = int(background_index)
        self.buckets: dict[str, ConfusionMatrix] = {b: ConfusionMatrix(num_classes, ignore_index) for b in SIZE_BUCKETS}
        self.num_images: dict[str, int] = {b: 0 for b in SIZE_BUCKETS}

    def person_areas(self, gt: Any) -> list[int]:
        """Person area of each image of a (H, W) map or an (N, H, W) batch."""
        if gt.ndim not in (2, 3):
            raise ValueError(f"size breakdown needs (H, W) or (N, H, W) label maps, got shape {tuple(gt.shape)}")
        batch = gt[None] if gt.ndim == 2 else gt
        person = batch != self.background_index
        if self.ignore_index is not None:
            person = person & (batch != self.ignore_index)
        return [int(a) for a in person.reshape(person.shape[0], -1).sum(1).tolist()]

    def update(self, pred: Any, gt: Any) -> None:
        """Count one image (H, W) or a batch (N, H, W), each image into its own bucket."""
        if tuple(pred.shape) != tuple(gt.shape):
            raise ValueError(f"prediction shape {tuple(pred.shape)} differs from ground-truth shape {tuple(gt.shape)}")
        areas = self.person_areas(gt)
        if gt.ndim == 2:
            pred, gt = pred[None], gt[None]
        for bucket in SIZE_BUCKETS:
            members = [i for i, a in enumerate(areas) if size_bucket(a) == bucket]
            if not members:
                continue
            self.buckets[bucket].update(pred[members], gt[members])
            self.num_images[bucket] += len(members)

    def _check_compatible(self, other: "SizeBreakdown") -> None:
        if not isinstance(other, SizeBreakdown):
            raise TypeError(f"cannot merge a SizeBreakdown with {type(other).__name__}")
        if (other.num_classes, other.ignore_index, other.background_index) != (
            self.num_classes, self.ignore_index, self.background_index
        ):
            raise ValueError("cannot merge size breakdowns of different classes, ignore or background index")

    def merge(self, other: "SizeBreakdown") -> "SizeBreakdown":
        self._check_compatible(other)
        out = SizeBreakdown(self.num_classes, self.ignore_index, self.background_index)
        for b in SIZE_BUCKETS:
            out.buckets[b] = self.buckets[b] + other.buckets[b]
            out.num_images[b] = self.num_images[b] + other.num_images[b]
        return out

    def __add__(self, other: "SizeBreakdown") -> "SizeBreakdown":
        return self.merge(other)

    def all_reduce(self) -> "SizeBreakdown":
        """Sum matrices and image counts over ``torch.distributed`` ranks, in place."""
        if not distributed():
            return self
        for b in SIZE_BUCKETS:
            self.buckets[b].all_reduce()
        counts = sum_over_ranks(np.array([self.num_images[b] for b in SIZE_BUCKETS]))
        self.num_images = {b: int(c) for b, c in zip(SIZE_BUCKETS, counts)}
        return self

    def scores(self, absent: str = "skip") -> dict[str, ParsingScores]:
        return {b: m.scores(absent) for b, m in self.buckets.items()}

    def miou(self, absent: str = "skip") -> dict[str, float]:
        """mIoU (fraction) per bucket; NaN for an empty bucket."""
        return {b: (s.miou if self.num_images[b] else float("nan")) for b, s in self.scores(absent).items()}

    def to_dict(self, absent: str = "skip", percent: bool = True) -> dict[str, Mapping[str, Any]]:
        scale = 100.0 if percent else 1.0
        return {
            b: {"miou": _json_number(v, scale), "num_images": self.num_images[b]}
            for b, v in self.miou(absent).items()
        }
