"""Malformed ground truth and prediction files through ``humanparse score pose``: one line
naming the file and what is wrong in it, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import scipy.io

from helpers import lip_pose_row, mpii_ground_truth, write_csv_rows
from humanparse.cli import main


def _mat_against(write_pred: Callable[[Path], Any], **gt_variables: Any) -> Callable[[Path], list[str]]:
    """MPII ground truth (3 people) against the prediction file ``write_pred`` writes and names."""

    def build(tmp_path: Path) -> list[str]:
        scipy.io.savemat(tmp_path / "gt.mat", {**mpii_ground_truth(3), **gt_variables})
        return ["--gt", str(tmp_path / "gt.mat"), "--pred", str(write_pred(tmp_path))]

    return build


def _npy(values: np.ndarray) -> Callable[[Path], Path]:
    def write(tmp_path: Path) -> Path:
        np.save(tmp_path / "pred.npy", values)
        return tmp_path / "pred.npy"

    return write


def _mat(**variables: Any) -> Callable[[Path], Path]:
    def write(tmp_path: Path) -> Path:
        scipy.io.savemat(tmp_path / "pred.mat", variables)
        return tmp_path / "pred.mat"

    return write


def _csvs(gt: bytes | None = None, pred: bytes | None = None) -> Callable[[Path], list[str]]:
    """A LIP pose CSV ground truth against a prediction CSV; either may be given as raw bytes."""

    def build(tmp_path: Path) -> list[str]:
        good = write_csv_rows(tmp_path / "good.csv", [lip_pose_row("a.jpg")])
        paths = []
        for name, content in (("gt.csv", gt), ("pred.csv", pred)):
            if content is None:
                paths.append(good)
            else:
                (tmp_path / name).write_bytes(content)
                paths.append(tmp_path / name)
        return ["--gt", str(paths[0]), "--pred", str(paths[1])]

    return build


def _row(name: str = "a.jpg", column: int | None = None, text: str = "") -> bytes:
    row = lip_pose_row(name)
    if column is not None:
        row[column - 1] = text
    return (",".join(row) + "\n").encode()


GOOD_PRED = _npy(np.full((3, 16, 2), 10.0))

# name -> (arguments after "score pose", what the error line must say)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "mat gt: pos_gt_src text": (_mat_against(GOOD_PRED, pos_gt_src="hello"), "gt.mat: 'pos_gt_src' must be an array of real numbers, found text"),
    "mat gt: headboxes a struct": (_mat_against(GOOD_PRED, headboxes_src={"a": np.ones(3)}), "gt.mat: 'headboxes_src' must be an array of real numbers, found a struct"),
    "mat gt: pos_gt_src a cell array": (_mat_against(GOOD_PRED, pos_gt_src=np.array([[1, "a"]], dtype=object)), "'pos_gt_src' must be an array of real numbers, found a cell array or struct"),
    "mat gt: position beyond float32": (_mat_against(GOOD_PRED, pos_gt_src=np.full((16, 2, 3), 1e39)), "'pos_gt_src' holds 1e+39 at index (0, 0, 0); expected finite numbers within ±1e+06"),
    "mat pred: pos_pred_src text": (_mat_against(_mat(pos_pred_src="abc")), "pred.mat: 'pos_pred_src' must be an array of real numbers, found text"),
    "mat pred: preds a cell array": (_mat_against(_mat(preds=np.array([[1, "a"]], dtype=object))), "pred.mat: 'preds' must be an array of real numbers, found a cell array or struct"),
    "npy pred: infinite": (_mat_against(_npy(np.full((3, 16, 2), np.inf))), "pred.npy: 'array' holds inf at index (0, 0, 0); expected finite numbers within ±1e+06"),
    "npy pred: complex": (_mat_against(_npy(np.ones((3, 16, 2), complex))), "pred.npy: 'array' must be an array of real numbers, found complex numbers"),
    "npy pred: logicals": (_mat_against(_npy(np.ones((3, 16, 2), bool))), "pred.npy: 'array' must be an array of real numbers, found logicals"),
    "csv gt: latin-1": (_csvs(gt=_row() + "caf\xe9.jpg,1\n".encode("latin-1")), "gt.csv: pose CSV is not UTF-8 text (byte 0xe9 on line 2)"),
    "csv pred: binary": (_csvs(pred=bytes(range(256))), "pred.csv: prediction CSV is not UTF-8 text (byte 0x80 on line 2)"),
    "csv pred: field over the csv limit": (_csvs(pred=b"a" * 200_000 + b",1\n"), "pred.csv: line 1: unreadable prediction CSV: field larger than field limit (131072)"),
    "csv gt: field over the csv limit": (_csvs(gt=_row() + b'"' + b"a" * 200_000 + b'"\n'), "gt.csv: line 2: unreadable pose CSV: field larger than field limit (131072)"),
    "csv pred: a million cells": (_csvs(pred=b"a.jpg" + b",1" * 1_000_000 + b"\n"), "pred.csv: line 1 is 2000006 characters long (at most 1048576)"),
    "csv pred: value beyond float32": (_csvs(pred=_row(column=2, text="1e39")), "pred.csv: line 1, column 2: keypoint value '1e39' is beyond ±1e+06"),
    "csv pred: name too long": (_csvs(pred=_row("a" * 5000)), "pred.csv: line 1: image name is 5000 characters long (at most 4096)"),
    "csv gt: flag 7": (_csvs(gt=_row(column=4, text="7")), "gt.csv: line 1, column 4: visibility flag '7' must be 0 or 1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_pose_files_are_one_line_naming_the_file(case, tmp_path, capsys):
    build, message = CASES[case]
    assert main(["score", "pose", *build(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("humanparse")]
    assert len(lines) == 1 and lines[0].startswith("humanparse: error: ") and message in lines[0], err


def test_a_byte_order_mark_does_not_hide_the_first_prediction(tmp_path, capsys):
    args = _csvs(pred=b"\xef\xbb\xbf" + _row())(tmp_path)
    assert main(["score", "pose", *args, "--schema", "lip"]) == 0
    assert "no prediction" not in capsys.readouterr().err
