from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import run_on_processes
from humanparse.evaluation.parsing_metrics import (
    MEDIUM_AREA_LIMIT,
    SMALL_AREA_LIMIT,
    ConfusionMatrix,
    SizeBreakdown,
    parsing_scores,
    size_bucket,
)


def _case_with_absent_class():
    """4 classes; class 3 occurs nowhere; one pixel ignored."""
    gt = np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1], [2, 2, 0]], dtype=np.uint8)
    return pred, gt


def test_tiny_case_matrix_and_both_conventions():
    pred, gt = _case_with_absent_class()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    # Counted by hand: rows ground truth, columns prediction; the 255 pixel is not counted.
    assert cm.matrix.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert cm.total == 5

    skip = cm.scores("skip")
    assert skip.pixel_accuracy == pytest.approx(3 / 5)
    # accuracies 1/2, 1/2, 1, undefined -> mean over the three that occur
    assert skip.mean_accuracy == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    # IoUs 1/2, 1/3, 1/2, undefined
    np.testing.assert_allclose(skip.per_class_iou[:3], [1 / 2, 1 / 3, 1 / 2])
    assert np.isnan(skip.per_class_iou[3]) and np.isnan(skip.per_class_accuracy[3])
    assert skip.miou == pytest.approx((1 / 2 + 1 / 3 + 1 / 2) / 3)
    assert skip.fwiou == pytest.approx(2 / 5 * 1 / 2 + 2 / 5 * 1 / 3 + 1 / 5 * 1 / 2)

    zero = cm.scores("zero")
    assert zero.pixel_accuracy == pytest.approx(3 / 5)
    assert zero.mean_accuracy == pytest.approx((1 / 2 + 1 / 2 + 1 + 0) / 4)
    assert zero.per_class_iou[3] == 0.0
    assert zero.miou == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 0) / 4)
    assert zero.fwiou == pytest.approx(skip.fwiou)


def test_predicted_but_not_in_ground_truth():
    # Class 3 is predicted once but never in the ground truth; class 2 occurs nowhere.
    gt = np.array([0, 0, 1, 1])
    pred = np.array([0, 3, 1, 1])
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    skip = cm.scores("skip")
    # Mean accuracy skips classes without ground truth (2 and 3): (1/2 + 1) / 2.
    assert skip.mean_accuracy == pytest.approx(0.75)
    # IoU skips only class 2 (absent from both); class 3 has IoU 0 and counts: (1/2 + 1 + 0) / 3.
    assert skip.per_class_iou[3] == 0.0 and np.isnan(skip.per_class_iou[2])
    assert skip.miou == pytest.approx(0.5)
    zero = cm.scores("zero")
    assert zero.mean_accuracy == pytest.approx(1.5 / 4)
    assert zero.miou == pytest.approx(1.5 / 4)
    assert skip.pixel_accuracy == zero.pixel_accuracy == pytest.approx(0.75)


def test_to_dict_percent_and_null_for_absent():
    pred, gt = _case_with_absent_class()
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    d = cm.scores("skip").to_dict(["a", "b", "c", "d"])
    assert d["pixel_accuracy"] == pytest.approx(60.0)
    assert d["per_class_iou"] == pytest.approx({"a": 50.0, "b": 100 / 3, "c": 50.0, "d": None})
    assert d["convention"] == "skip"
    assert cm.scores("zero").to_dict(["a", "b", "c", "d"])["per_class_iou"]["d"] == 0.0


def test_empty_matrix_and_bad_convention():
    empty = ConfusionMatrix(3)
    assert np.isnan(empty.scores("skip").miou) and np.isnan(empty.scores("skip").pixel_accuracy)
    assert empty.scores("zero").miou == 0.0 and empty.scores("zero").pixel_accuracy == 0.0
    with pytest.raises(ValueError, match="absent-class convention"):
        parsing_scores(np.eye(3), "nan")


def test_ignore_index_handling():
    gt = np.array([[255, 1], [9, 0]])
    pred = np.array([[7, 1], [0, 0]])
    cm = ConfusionMatrix(10)
    cm.update(pred, gt)
    assert cm.total == 3 and cm.matrix[9, 0] == 1
    # A different ignore index: 9 is left out, and 255 becomes an error.
    cm9 = ConfusionMatrix(10, ignore_index=9)
    cm9.update(np.array([3, 1]), np.array([9, 1]))
    assert cm9.total == 1 and cm9.matrix[1, 1] == 1
    with pytest.raises(ValueError, match="ground-truth ids \\[255\\]"):
        cm9.update(pred, gt)
    no_ignore = ConfusionMatrix(10, ignore_index=None)
    with pytest.raises(ValueError, match="255"):
        no_ignore.update(pred, gt)


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor])
def test_bad_input_is_refused(to):
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="3"):
        cm.update(to(np.array([0, 3])), to(np.array([0, 1])))  # prediction out of range
    with pytest.raises(ValueError, match="-1"):
        cm.update(to(np.array([0, -1])), to(np.array([0, 1])))
    with pytest.raises(ValueError, match="shape"):
        cm.update(to(np.zeros((2, 2), np.int64)), to(np.zeros((2, 3), np.int64)))
    with pytest.raises(ValueError, match="integer"):
        cm.update(to(np.zeros(3, np.float32)), to(np.zeros(3, np.int64)))
    assert cm.total == 0  # nothing half-counted


def _random_maps(rng, shape, num_classes, ignore_share=0.1):
    gt = rng.integers(0, num_classes, shape)
    gt[rng.random(shape) < ignore_share] = 255
    pred = np.where(rng.random(shape) < 0.6, np.where(gt == 255, 0, gt), rng.integers(0, num_classes, shape))
    return pred.astype(np.uint8), gt.astype(np.uint8)


def test_merge_equals_one_accumulator_over_the_union():
    rng = np.random.default_rng(0)
    pred, gt = _random_maps(rng, (6, 17, 13), 7)
    whole = ConfusionMatrix(7)
    whole.update(pred, gt)
    first, second = ConfusionMatrix(7), ConfusionMatrix(7)
    first.update(pred[:2], gt[:2])
    second.update(pred[2:], gt[2:])
    merged = first.merge(second)
    assert np.array_equal(merged.matrix, whole.matrix)
    assert np.array_equal((first + second).matrix, whole.matrix)
    first += second
    assert np.array_equal(first.matrix, whole.matrix)
    assert whole.matrix.sum() == int((gt != 255).sum())
    with pytest.raises(ValueError, match="cannot merge"):
        whole.merge(ConfusionMatrix(8))


def test_torch_and_numpy_paths_agree():
    rng = np.random.default_rng(1)
    pred, gt = _random_maps(rng, (3, 2, 21, 19), 11)
    by_numpy = ConfusionMatrix(11)
    by_numpy.update(pred, gt)
    by_torch = ConfusionMatrix(11)
    by_torch.update(torch.from_numpy(pred), torch.from_numpy(gt))
    by_torch.update(torch.from_numpy(pred).long(), torch.from_numpy(gt).long())
    mixed = ConfusionMatrix(11)
    mixed.update(torch.from_numpy(pred), gt)
    assert np.array_equal(by_torch.matrix, 2 * by_numpy.matrix)
    assert np.array_equal(mixed.matrix, by_numpy.matrix)
    # Numpy and torch updates may be mixed in one accumulator.
    mixed.update(pred, gt)
    assert np.array_equal(mixed.matrix, 2 * by_numpy.matrix)
    assert ConfusionMatrix(11).all_reduce() is not None  # a no-op outside torch.distributed


def test_size_buckets_boundaries():
    assert size_bucket(SMALL_AREA_LIMIT - 1) == "small"
    assert size_bucket(153 * 153) == "medium"
    assert size_bucket(MEDIUM_AREA_LIMIT - 1) == "medium"
    assert size_bucket(321 * 321) == "large"


def _person_with_area(area: int, shape=(330, 330), cls: int = 1) -> np.ndarray:
    gt = np.zeros(shape, np.uint8).reshape(-1)
    gt[:area] = cls
    gt[-50:] = 255  # ignored pixels are not person area
    return gt.reshape(shape)


def test_size_breakdown_buckets_images_by_person_area():
    areas = [153 * 153 - 1, 153 * 153, 321 * 321 - 1, 321 * 321, 10]
    gts = [_person_with_area(a, cls=1 + i % 2) for i, a in enumerate(areas)]
    rng = np.random.default_rng(2)
    preds = [np.where(rng.random(g.shape) < 0.3, 0, np.where(g == 255, 0, g)).astype(np.uint8) for g in gts]
    sizes = SizeBreakdown(3)
    for p, g in zip(preds, gts):
        sizes.update(p, g)
    assert sizes.num_images == {"small": 2, "medium": 2, "large": 1}
    expected = {"small": [0, 4], "medium": [1, 2], "large": [3]}
    for bucket, members in expected.items():
        cm = ConfusionMatrix(3)
        for i in members:
            cm.update(preds[i], gts[i])
        assert np.array_equal(sizes.buckets[bucket].matrix, cm.matrix)
        assert sizes.miou()[bucket] == pytest.approx(cm.scores().miou)
    # A torch batch through the same path gives the same buckets.
    batch = SizeBreakdown(3)
    batch.update(torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(gts)))
    assert batch.num_images == sizes.num_images
    for bucket in expected:
        assert np.array_equal(batch.buckets[bucket].matrix, sizes.buckets[bucket].matrix)
    merged = SizeBreakdown(3) + sizes
    assert merged.num_images == sizes.num_images
    d = sizes.to_dict()
    assert d["large"]["num_images"] == 1 and d["large"]["miou"] == pytest.approx(100 * sizes.miou()["large"])
    assert np.isnan(SizeBreakdown(3).miou()["small"])


def _summed_counts(rank: int) -> np.ndarray:
    cm = ConfusionMatrix(3)
    # Rank r counts r + 1 pixels of class r predicted as class 0.
    cm.update(torch.zeros(rank + 1, dtype=torch.long), torch.full((rank + 1,), rank))
    cm.all_reduce()
    sizes = SizeBreakdown(3)
    sizes.update(np.zeros((4, 4), np.uint8), np.full((4, 4), rank, np.uint8))
    sizes.all_reduce()
    return np.concatenate([cm.matrix.ravel(), sizes.buckets["small"].matrix.ravel(), [sizes.num_images["small"]]])


@pytest.mark.slow
def test_all_reduce_sums_over_processes(tmp_path):
    values = run_on_processes(_summed_counts, tmp_path)
    assert values[:9].reshape(3, 3).tolist() == [[1, 0, 0], [2, 0, 0], [0, 0, 0]]
    assert values[9:18].reshape(3, 3).tolist() == [[16, 0, 0], [16, 0, 0], [0, 0, 0]]
    assert values[18] == 2


def test_left_right_confusion_pools_the_schema_pairs():
    from humanparse.evaluation import left_right_confusion
    from humanparse.schemas import LIP

    m = np.zeros((20, 20), dtype=np.int64)
    m[14, 14], m[14, 15] = 6, 2  # left arm: 2 of 8 called right arm
    m[15, 15], m[15, 0] = 4, 4  # right arm: missed, but never called left
    m[2, 2] = 100  # hair: not a left/right class
    assert left_right_confusion(m, LIP) == pytest.approx(2 / 16)
    assert np.isnan(left_right_confusion(np.eye(20, dtype=np.int64) * 0, LIP))
