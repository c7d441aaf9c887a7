"""``humanparse score`` fed structurally broken ground truth and predictions (MPII .mat and .npy
arrays of the wrong kind, shape or values, LIP CSVs of the wrong length, with text for numbers
or not UTF-8, label PNGs cut short or overwritten): it scores them or raises a HumanparseError,
and nothing else; a score it gives is a percentage.

The examples are drawn reproducibly (tests/mutations.py); the counts below keep the file within
a few seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import ANNOTATED_SIZE, lip_pose_row, mpii_ground_truth, write_csv_rows
from humanparse.errors import HumanparseError
from humanparse.evaluation.score import run_score_parsing, run_score_pose
from mutations import (
    ARRAY_DTYPES, FUZZ, csv_text, image_bytes, mat_bytes, mutated_arrays, mutated_bytes, mutated_rows, npy_bytes,
)

PEOPLE = 3


def _score_pose(gt: Path, pred: Path, out: Path) -> None:
    """Score, and when it scores, every PCK in the JSON is a percentage or absent."""
    out.unlink(missing_ok=True)
    try:
        assert run_score_pose(gt, pred, str(out), 0.5, None) == 0
    except HumanparseError as e:
        assert "\n" not in str(e)
        return
    scores = json.loads(out.read_text())
    values = [v for v in scores["per_joint"].values() if v is not None] + [scores["mean"]]
    assert all(v is None or 0 <= v <= 100 for v in values)


@pytest.fixture(scope="module")
def pose_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pose")
    scipy.io.savemat(folder / "gt.mat", mpii_ground_truth(PEOPLE))
    np.save(folder / "pred.npy", np.full((PEOPLE, 16, 2), 10.0))
    write_csv_rows(folder / "gt.csv", LIP_ROWS)
    write_csv_rows(folder / "pred.csv", LIP_ROWS)
    return folder


LIP_ROWS = [lip_pose_row("a.jpg"), lip_pose_row("b.jpg")]


def _write(path: Path, content: bytes | dict[str, Any]) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        scipy.io.savemat(path, content)
    return path


@FUZZ
@given(gt=mutated_arrays(mpii_ground_truth(PEOPLE)) | mutated_bytes(mat_bytes(mpii_ground_truth(PEOPLE))))
def test_mpii_ground_truth_broken(pose_files, gt):
    _score_pose(_write(pose_files / "broken_gt.mat", gt), pose_files / "pred.npy", pose_files / "scores.json")


PREDICTION_ARRAYS = hnp.arrays(
    ARRAY_DTYPES,
    st.sampled_from([(PEOPLE, 16, 2), (PEOPLE, 16, 3), (PEOPLE, 16), (PEOPLE + 1, 16, 2), (0, 16, 2), (16, 2, PEOPLE)]),
) | hnp.arrays(np.float64, (PEOPLE, 16, 2), elements=st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -5.0, 10.0, 1e6]))


@FUZZ
@given(pred=PREDICTION_ARRAYS | mutated_bytes(npy_bytes(np.full((PEOPLE, 16, 2), 10.0))))
def test_npy_predictions_broken(pose_files, pred):
    path = pose_files / "broken_pred.npy"
    if isinstance(pred, bytes):
        path.write_bytes(pred)
    else:
        np.save(path, pred)
    _score_pose(pose_files / "gt.mat", path, pose_files / "scores.json")


PRED_MAT = {"preds": np.full((PEOPLE, 16, 2), 10.0)}
POS_PRED_MAT = {"pos_pred_src": np.full((16, 2, PEOPLE), 10.0)}


@FUZZ
@given(pred=mutated_arrays(PRED_MAT) | mutated_arrays(POS_PRED_MAT) | mutated_bytes(mat_bytes(POS_PRED_MAT)))
def test_mat_predictions_broken(pose_files, pred):
    path = _write(pose_files / "broken_pred.mat", pred)
    _score_pose(pose_files / "gt.mat", path, pose_files / "scores.json")


@FUZZ
@given(
    which=st.sampled_from(["gt", "pred"]),
    data=mutated_rows(LIP_ROWS) | mutated_bytes(csv_text(LIP_ROWS)),
)
def test_lip_csvs_broken(pose_files, which, data):
    broken = pose_files / f"broken_{which}.csv"
    broken.write_bytes(data)
    gt, pred = (broken, pose_files / "pred.csv") if which == "gt" else (pose_files / "gt.csv", broken)
    _score_pose(gt, pred, pose_files / "scores.json")


GOOD_LABEL = np.zeros(ANNOTATED_SIZE, np.uint8)
GOOD_LABEL[5:20, 5:30] = 5


@FUZZ
@given(which=st.sampled_from(["gt", "pred"]), data=mutated_bytes(image_bytes(GOOD_LABEL)))
def test_label_pngs_broken(tmp_path_factory, which, data):
    root = tmp_path_factory.getbasetemp() / "parsing"
    for folder in ("gt", "pred"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "a.png").write_bytes(data if folder == which else image_bytes(GOOD_LABEL))
    try:
        assert run_score_parsing(root / "gt", root / "pred", "lip", None, "skip") == 0
    except HumanparseError as e:
        assert "\n" not in str(e)
