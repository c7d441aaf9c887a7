from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import MPII_README_MEAN, MPII_README_PCKH, run_on_processes
from humanparse.data.pose_files import read_mpii_gt_mat
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.evaluation.pose_metrics import PCKAccumulator, auc, reference_lengths
from humanparse.schemas import get_joint_schema


def test_mpii_readme_figures(shared_data):
    ann = read_mpii_gt_mat(shared_data / "pose" / "mpii_val_gt" / "detections_our_format.mat")
    acc = PCKAccumulator("mpii", 0.5)
    acc.update(ann.predictions, ann.keypoints(), ann.headboxes)
    summary = acc.summary()
    for joint, expected in MPII_README_PCKH.items():
        assert summary.per_joint[joint] == pytest.approx(expected, abs=0.05), joint
    assert summary.mean == pytest.approx(MPII_README_MEAN, abs=0.005)
    assert summary.table["Head"] == summary.per_joint["head_top"]
    assert summary.table["Shoulder"] == pytest.approx((92.2 + 93.3) / 2, abs=0.05)
    assert summary.num_dropped == 0 and summary.num_rows == 2958
    # The same PCKh counts in the columns of LIP's tables: Head averages upper neck and head top,
    # U.Body pools joints 8-15, the other columns are MPII's.
    lip = acc.table(get_joint_schema("lip"))
    assert lip["Head"][0] == pytest.approx((97.7 + 95.6) / 2, abs=0.05)
    assert lip["Shoulder"][0] == pytest.approx(summary.table["Shoulder"])
    assert 76.4 < lip["U.Body"][0] < 97.7
    with pytest.raises(ValueError, match="column 'Head' of schema 'coco' needs"):
        acc.table(get_joint_schema("coco"))


def _keypoints(xy, flags=None):
    xy = np.asarray(xy, dtype=np.float64)
    flags = np.full(xy.shape[:2], VISIBLE) if flags is None else np.asarray(flags)
    kp = np.concatenate([xy, flags[..., None]], axis=-1)
    kp[flags == MISSING, :2] = np.nan
    return kp


def test_mpii_rule_by_hand():
    # One person, head box (0, 0)-(30, 40): diagonal 50, head size 0.6 * 50 = 30, so at 0.5 a
    # prediction within 15 px is correct.
    gt_xy = np.zeros((1, 16, 2))
    flags = np.full((1, 16), VISIBLE)
    flags[0, 3] = MISSING  # not annotated: never counted
    flags[0, 4] = OCCLUDED  # annotated, so counted
    offsets = np.zeros(16)
    offsets[[0, 1, 2]] = [14.9, 15.0, 15.1]
    offsets[4] = 40.0
    offsets[6] = 100.0  # pelvis wrong, but excluded from the mean
    pred = gt_xy + np.stack([offsets, np.zeros(16)], axis=1)[None]
    boxes = np.array([[[0.0, 0.0], [30.0, 40.0]]])
    gt = _keypoints(gt_xy, flags)
    assert reference_lengths(get_joint_schema("mpii"), gt, boxes)[0] == pytest.approx(30.0)
    acc = PCKAccumulator("mpii", 0.5)
    acc.update(pred, gt, boxes)
    s = acc.summary(0.5)
    assert s.per_joint["r_ankle"] == 100 and s.per_joint["r_knee"] == 100 and s.per_joint["r_hip"] == 0
    assert s.per_joint["l_hip"] is None and s.annotated["l_hip"] == 0
    assert s.per_joint["l_knee"] == 0 and s.per_joint["pelvis"] == 0
    # 13 annotated joints outside pelvis/thorax (16 - 2 - l_hip); wrong: r_hip, l_knee.
    assert s.mean == pytest.approx(100 * 11 / 13)
    with pytest.raises(ValueError, match="head boxes"):
        acc.update(pred, gt)


def test_mean_is_weighted_by_annotated_count():
    # Two people; r_ankle annotated in both (one right), l_ankle only in the first (right).
    schema = get_joint_schema("lip")
    gt_xy = np.tile(np.arange(16, dtype=float)[None, :, None] * [0, 10], (2, 1, 1))  # neck-head 10 px
    flags = np.full((2, 16), MISSING)
    flags[:, [8, 9]] = VISIBLE
    flags[:, 0] = VISIBLE
    flags[0, 5] = VISIBLE
    pred = gt_xy.copy()
    pred[1, 0, 0] += 6.0  # 0.6 of the reference: wrong at 0.5
    acc = PCKAccumulator(schema, 0.5)
    acc.update(pred, _keypoints(gt_xy, flags))
    s = acc.summary()
    assert s.per_joint["r_ankle"] == 50 and s.per_joint["l_ankle"] == 100
    # Pooled: 6 right of 7 annotated (neck, head 2 of 2 each, r_ankle 1 of 2, l_ankle 1 of 1),
    # not the plain mean over joints (100 + 100 + 50 + 100) / 4.
    assert s.mean == pytest.approx(100 * 6 / 7)
    assert s.table["Ankle"] == pytest.approx(75.0)
    assert s.table["Head"] == pytest.approx(100.0)


def test_lip_rule_drops_rows_missing_neck_or_head():
    schema = get_joint_schema("lip")
    gt_xy = np.zeros((3, 16, 2))
    gt_xy[:, 9, 1] = 20.0  # neck (0, 0), head top (0, 20): reference 20 px
    flags = np.full((3, 16), VISIBLE)
    flags[1, 8] = MISSING  # no neck
    flags[2, 9] = MISSING  # no head
    pred = gt_xy.copy()
    pred[:, :, 0] += 30.0  # every prediction 1.5 reference lengths off
    gt = _keypoints(gt_xy, flags)
    lengths = reference_lengths(schema, gt)
    assert lengths[0] == pytest.approx(20.0) and np.isnan(lengths[1:]).all()
    acc = PCKAccumulator(schema, [0.5, 1.5])
    acc.update(pred, gt)
    assert acc.num_dropped == 2 and acc.num_rows == 3
    assert acc.annotated.tolist() == [1] * 16  # only the first row counts
    assert acc.summary(0.5).mean == 0 and acc.summary(1.5).mean == 100


def test_pck_is_monotone_in_threshold_and_auc():
    rng = np.random.default_rng(0)
    n = 200
    gt_xy = rng.uniform(0, 100, (n, 16, 2))
    flags = np.where(rng.random((n, 16)) < 0.2, MISSING, VISIBLE)
    boxes = np.stack([np.zeros((n, 2)), np.full((n, 2), 20.0)], axis=1)
    pred = gt_xy + rng.normal(0, 6, (n, 16, 2))
    thresholds = np.linspace(0, 0.5, 26)
    acc = PCKAccumulator("mpii", thresholds)
    acc.update(pred, _keypoints(gt_xy, flags), boxes)
    pck = acc.pck()
    assert (np.diff(pck, axis=0) >= 0).all() and (np.diff(acc.mean()) >= 0).all()
    assert (acc.mean()[0] == 0) and acc.mean()[-1] > 50
    # AUC by hand from the curve: trapezoids over 0..0.5, divided by 0.5.
    m = acc.mean()
    by_hand = sum((m[i] + m[i + 1]) / 2 * (thresholds[i + 1] - thresholds[i]) for i in range(25)) / 0.5
    assert acc.auc() == pytest.approx(by_hand)
    assert 0 < acc.auc() < m[-1]
    huge = PCKAccumulator("mpii", 1e6)
    huge.update(pred, _keypoints(gt_xy, flags), boxes)
    assert huge.summary().mean == 100


def test_auc_of_known_curves():
    t = np.linspace(0, 0.5, 11)
    assert auc(t, np.full(11, 80.0)) == pytest.approx(80.0)
    assert auc(t, 100 * t / 0.5) == pytest.approx(50.0)
    assert auc(t[::-1], (100 * t / 0.5)[::-1]) == pytest.approx(50.0)
    with pytest.raises(ValueError):
        auc([0.5], [1.0])


def test_nan_predictions_are_wrong_and_torch_matches_numpy():
    rng = np.random.default_rng(3)
    gt_xy = rng.uniform(0, 50, (10, 16, 2))
    gt_xy[:, 9] = gt_xy[:, 8] + [0, 25]
    pred = gt_xy + rng.normal(0, 5, gt_xy.shape)
    pred[0] = np.nan  # a person with no prediction
    gt = _keypoints(gt_xy)
    by_numpy = PCKAccumulator("lip", [0.2, 0.5])
    by_numpy.update(pred, gt)
    assert by_numpy.annotated.tolist() == [10] * 16
    assert (by_numpy.correct <= 9).all()  # the first person is wrong everywhere
    by_torch = PCKAccumulator("lip", [0.2, 0.5])
    by_torch.update(torch.from_numpy(pred).float(), torch.from_numpy(gt).float())
    assert np.array_equal(by_torch.correct, by_numpy.correct)


def test_merge_equals_one_accumulator_over_the_union():
    rng = np.random.default_rng(4)
    gt_xy = rng.uniform(0, 80, (30, 16, 2))
    gt_xy[:, 9] = gt_xy[:, 8] + rng.uniform(5, 30, (30, 2))
    flags = np.where(rng.random((30, 16)) < 0.1, MISSING, VISIBLE)
    flags[:, 8:10] = VISIBLE
    flags[:3, 8] = MISSING
    pred = gt_xy + rng.normal(0, 8, gt_xy.shape)
    gt = _keypoints(gt_xy, flags)
    whole = PCKAccumulator("lip", [0.1, 0.5])
    whole.update(pred, gt)
    a, b = PCKAccumulator("lip", [0.1, 0.5]), PCKAccumulator("lip", [0.1, 0.5])
    a.update(pred[:11], gt[:11])
    b.update(pred[11:], gt[11:])
    merged = a + b
    assert np.array_equal(merged.correct, whole.correct) and np.array_equal(merged.annotated, whole.annotated)
    assert merged.num_dropped == whole.num_dropped == 3
    assert merged.summary(0.5) == whole.summary(0.5)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(PCKAccumulator("lip", 0.5))
    assert whole.all_reduce() is whole  # a no-op outside torch.distributed
    with pytest.raises(ValueError, match="not accumulated"):
        whole.summary(0.3)


def _summed_counts(rank: int) -> np.ndarray:
    # Rank r scores r + 1 people whose predictions are exact: all right at any threshold.
    gt_xy = np.zeros((rank + 1, 16, 2))
    gt_xy[:, 9, 1] = 10.0
    acc = PCKAccumulator("lip", [0.5])
    acc.update(gt_xy, _keypoints(gt_xy))
    acc.all_reduce()
    return np.concatenate([acc.correct.ravel(), acc.annotated, [acc.num_rows]])


@pytest.mark.slow
def test_all_reduce_sums_over_processes(tmp_path):
    values = run_on_processes(_summed_counts, tmp_path)
    assert values[:16].tolist() == [3] * 16 and values[16:32].tolist() == [3] * 16 and values[32] == 3


def test_lip_upper_body_column_pools_joints_8_to_15():
    # U.Body is PIL's pooled PCK over joints 8..15, not the average of their per-joint PCKs.
    schema = get_joint_schema("lip")
    assert dict(schema.table)["U.Body"] == tuple(range(8, 16)) and schema.table_pooled == ("U.Body",)
    gt_xy = np.zeros((4, 16, 2))
    gt_xy[:, 9, 1] = 10.0  # neck (0, 0), head top (0, 10): reference 10 px
    flags = np.full((4, 16), VISIBLE)
    flags[1:, 10] = MISSING  # r_wrist annotated once only
    pred = gt_xy.copy()
    pred[0, 10, 0] += 6.0  # that one r_wrist wrong
    pred[:2, 15, 0] += 6.0  # l_wrist wrong in two of four
    acc = PCKAccumulator(schema, 0.5)
    acc.update(pred, _keypoints(gt_xy, flags))
    s = acc.summary()
    assert s.per_joint["r_wrist"] == 0 and s.per_joint["l_wrist"] == 50
    # 8 joints x 4 rows - 3 unannotated = 29 annotated; 3 wrong.
    assert s.table["U.Body"] == pytest.approx(100 * 26 / 29)
    per_joint_average = np.mean([s.per_joint[n] for n in schema.joints[8:]])
    assert s.table["U.Body"] != pytest.approx(per_joint_average)
    assert s.table["Wrist"] == pytest.approx(25.0)  # other columns still average
