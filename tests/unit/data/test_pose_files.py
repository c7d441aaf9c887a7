from __future__ import annotations

import numpy as np
import pytest
import torch

from humanparse.data.image_io import DataError
from humanparse.data.pose_files import read_lip_pose_csv, read_mpii_gt_mat, write_lip_pose_csv
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE, Sample, collate


def _row(name, joints):
    return ",".join([name] + [",".join(j) for j in joints])


def test_lip_csv_flags_and_roundtrip(tmp_path):
    joints = [("1", "2", "0")] * 16
    joints = list(joints)
    joints[3] = ("nan", "nan", "nan")
    joints[10] = ("5.5", "6", "1")
    p = tmp_path / "pose.csv"
    p.write_text(_row("a.jpg", joints) + "\n\n")
    kp = read_lip_pose_csv(p)["a.jpg"]
    assert kp.shape == (16, 3)
    assert kp[0].tolist() == [1, 2, VISIBLE]
    assert kp[3, 2] == MISSING and np.isnan(kp[3, :2]).all()
    assert kp[10].tolist() == [5.5, 6, OCCLUDED]
    q = tmp_path / "back.csv"
    write_lip_pose_csv(q, {"a.jpg": kp})
    again = read_lip_pose_csv(q)["a.jpg"]
    assert np.array_equal(np.nan_to_num(again, nan=-1), np.nan_to_num(kp, nan=-1))


def test_lip_csv_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.csv"
    good = _row("a.jpg", [("1", "2", "0")] * 16)
    p.write_text(good + "\n" + _row("b.jpg", [("1", "2", "0")] * 15) + "\n")
    with pytest.raises(DataError, match=r"bad.csv: line 2: expected 49 columns"):
        read_lip_pose_csv(p)
    p.write_text(good + "\n" + _row("b.jpg", [("1", "x", "0")] + [("1", "2", "0")] * 15) + "\n")
    with pytest.raises(DataError, match=r"line 2, column 3: keypoint value 'x' is not a number"):
        read_lip_pose_csv(p)
    p.write_text(good + "\n" + good + "\n")
    with pytest.raises(DataError, match="appears twice"):
        read_lip_pose_csv(p)


def test_mpii_mat_reader(tmp_path):
    import scipy.io

    n = 3
    gt = np.arange(16 * 2 * n, dtype=float).reshape(16, 2, n)
    missing = np.zeros((16, n), np.uint8)
    missing[4, 1] = 1
    boxes = np.ones((2, 2, n))
    scipy.io.savemat(tmp_path / "gt.mat", {"pos_gt_src": gt, "jnt_missing": missing, "headboxes_src": boxes})
    ann = read_mpii_gt_mat(tmp_path / "gt.mat")
    assert ann.gt.shape == (n, 16, 2) and ann.gt[2, 5, 1] == gt[5, 1, 2]
    assert ann.missing[1, 4] and ann.missing.sum() == 1
    kp = ann.keypoints()
    assert kp[1, 4, 2] == MISSING and kp[0, 4, 2] == VISIBLE
    scipy.io.savemat(tmp_path / "bad.mat", {"pos_gt_src": gt})
    with pytest.raises(DataError, match="lacks 'jnt_missing'"):
        read_mpii_gt_mat(tmp_path / "bad.mat")


def test_sample_validation_and_collate():
    img = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(ValueError, match="label shape"):
        Sample(img, label=np.zeros((4, 5), np.uint8))
    a = Sample(img, label=np.ones((4, 6), np.uint8), keypoints=np.zeros((1, 16, 3), np.float32), meta={"id": "a"})
    b = Sample(img + 1, label=np.zeros((4, 6), np.uint8), keypoints=np.ones((1, 16, 3), np.float32), meta={"id": "b"})
    batch = collate([a, b])
    assert batch["image"].shape == (2, 3, 4, 6) and int(batch["image"][1].max()) == 1
    assert batch["label"].dtype == torch.uint8 and batch["label"].shape == (2, 4, 6)
    assert batch["label"][0].tolist() == a.label.tolist()
    wide = Sample(img, label=np.full((4, 6), 300, np.int32))
    assert collate([wide])["label"].dtype == torch.int64 and int(collate([wide])["label"].max()) == 300
    assert batch["keypoints"].shape == (2, 1, 16, 3)
    assert [m["id"] for m in batch["meta"]] == ["a", "b"]
    with pytest.raises(ValueError, match="different sizes"):
        collate([a, Sample(np.zeros((5, 6, 3), np.uint8))])


def test_the_old_module_still_offers_every_parser_from_its_new_home():
    from humanparse.data import pose_files
    from humanparse.data.readers import base, coco, keypoint_json, lip, mpii
    from humanparse.evaluation import prediction_files

    homes = {
        base: ["load_mat"],
        coco: ["scan_coco_keypoints_json"],
        keypoint_json: ["ImagePoses"],
        lip: ["LIP_NUM_JOINTS", "PoseCsvScan", "parse_lip_pose_row", "read_lip_pose_csv", "scan_lip_pose_csv",
              "write_lip_pose_csv"],
        mpii: ["MPIIAnnotations", "read_mpii_gt_mat", "scan_mpii_json"],
        prediction_files: ["read_pose_predictions_array", "read_pose_predictions_csv"],
    }
    for module, names in homes.items():
        for name in names:
            assert getattr(pose_files, name) is getattr(module, name), name
    assert sorted(pose_files.__all__) == sorted(n for names in homes.values() for n in names)
    with pytest.raises(AttributeError):
        pose_files.no_such_parser  # noqa: B018
