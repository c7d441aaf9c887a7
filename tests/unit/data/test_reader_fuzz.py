"""Every reader, fed structurally broken versions of a valid file (fields replaced by arbitrary
json values, CSV rows of the wrong length or with text for numbers, .mat variables of the wrong
kind, bytes cut, overwritten or not UTF-8): it reads the file or raises a HumanparseError, and
nothing else. What it does read is sane (keypoint flags known, coordinates NaN or within the
readers' bound) and every problem it reports is one line.

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
from PIL import Image

from helpers import (
    ANNOTATED_SIZE, coco_document, lip_pose_row, mpii_entries, mpii_ground_truth, write_black_image,
)
from humanparse.data.check import check_dataset
from humanparse.data.readers import MPIIAnnotationReader, open_dataset
from humanparse.data.readers.base import MAX_MAGNITUDE
from humanparse.data.readers.lip import read_lip_pose_csv
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.errors import HumanparseError
from mutations import (
    FUZZ, csv_text, image_bytes, mat_bytes, mutated_arrays, mutated_bytes, mutated_json, mutated_rows, png_claiming,
)


def _sane(keypoints: np.ndarray | None) -> None:
    if keypoints is None:
        return
    assert keypoints.ndim == 3 and keypoints.shape[-1] == 3
    assert np.isin(keypoints[..., 2], (MISSING, OCCLUDED, VISIBLE)).all()
    xy = keypoints[..., :2]
    assert (np.isnan(xy) | (np.abs(xy) <= MAX_MAGNITUDE + 1)).all()


def _check(fmt: str, root: Path, **options: Any) -> None:
    """``data check`` and a strict read of every sample: a result or a HumanparseError, nothing else."""
    try:
        report = check_dataset(fmt, root, progress=False, **options)
    except HumanparseError as e:
        assert "\n" not in str(e)
    else:
        assert all("\n" not in str(problem) for problem in report.problems)
    try:
        reader = open_dataset(fmt, root, **options)
        for index in range(len(reader)):
            _sane(reader[index].keypoints)
    except HumanparseError as e:
        assert "\n" not in str(e)


# --------------------------------------------------------------------------- json: COCO, MPII


@pytest.fixture(scope="module")
def json_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("json")
    write_black_image(folder / "one.jpg")
    write_black_image(folder / "a.jpg")
    return folder


def _dumps(document: Any) -> bytes:
    return json.dumps(document).encode()  # NaN and Infinity as Python writes them


@FUZZ
@given(document=mutated_json(coco_document()))
def test_coco_json_with_broken_fields(json_dir, document):
    (json_dir / "coco.json").write_bytes(_dumps(document))
    _check("coco", json_dir / "coco.json")


@FUZZ
@given(data=mutated_bytes(_dumps(coco_document())))
def test_coco_json_with_broken_bytes(json_dir, data):
    (json_dir / "coco.json").write_bytes(data)
    _check("coco", json_dir / "coco.json")


@FUZZ
@given(document=mutated_json(mpii_entries() * 2))
def test_mpii_json_with_broken_fields(json_dir, document):
    (json_dir / "mpii.json").write_bytes(_dumps(document))
    _check("mpii", json_dir / "mpii.json")


@FUZZ
@given(data=mutated_bytes(_dumps(mpii_entries())))
def test_mpii_json_with_broken_bytes(json_dir, data):
    (json_dir / "mpii.json").write_bytes(data)
    _check("mpii", json_dir / "mpii.json")


# --------------------------------------------------------------------------- .mat: MPII ground truth, CCP labels


def _check_mpii_mat(path: Path) -> None:
    _check("mpii", path)
    try:
        people = MPIIAnnotationReader(path)
        for index in range(len(people)):
            _sane(people[index].keypoints)
    except HumanparseError:
        pass


@FUZZ
@given(variables=mutated_arrays(mpii_ground_truth()))
def test_mpii_mat_with_broken_variables(tmp_path_factory, variables):
    path = tmp_path_factory.getbasetemp() / "mpii_gt.mat"
    scipy.io.savemat(path, variables)
    _check_mpii_mat(path)


@FUZZ
@given(data=mutated_bytes(mat_bytes(mpii_ground_truth())))
def test_mpii_mat_with_broken_bytes(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "mpii_gt.mat"
    path.write_bytes(data)
    _check_mpii_mat(path)


@pytest.fixture(scope="module")
def ccp_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ccp")
    write_black_image(root / "photos" / "0001.jpg")
    (root / "annotations" / "pixel-level").mkdir(parents=True)
    return root


GOOD_CCP_LABEL = {"groundtruth": np.zeros(ANNOTATED_SIZE, dtype=np.uint8)}


@FUZZ
@given(variables=mutated_arrays(GOOD_CCP_LABEL) | mutated_bytes(mat_bytes(GOOD_CCP_LABEL)))
def test_ccp_mat_labels_broken(ccp_root, variables):
    path = ccp_root / "annotations" / "pixel-level" / "0001.mat"
    if isinstance(variables, bytes):
        path.write_bytes(variables)
    else:
        scipy.io.savemat(path, variables)
    _check("ccp", ccp_root)


# --------------------------------------------------------------------------- CSV: LIP pose annotations


@pytest.fixture(scope="module")
def lip_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lip")
    for name in ("a", "b"):
        write_black_image(root / "val_images" / f"{name}.jpg")
        (root / "val_segmentations").mkdir(exist_ok=True)
        Image.fromarray(np.zeros(ANNOTATED_SIZE, np.uint8)).save(root / "val_segmentations" / f"{name}.png")
    return root


LIP_ROWS = [lip_pose_row("a.jpg"), lip_pose_row("b.jpg")]


@FUZZ
@given(data=mutated_rows(LIP_ROWS) | mutated_bytes(csv_text(LIP_ROWS)))
def test_lip_pose_csv_broken(lip_root, data):
    path = lip_root / "lip_val_set.csv"
    path.write_bytes(data)
    _check("lip", lip_root)
    try:
        for keypoints in read_lip_pose_csv(path).values():
            _sane(keypoints[None])
    except HumanparseError:
        pass


# --------------------------------------------------------------------------- id lists, images and label PNGs


FOLDER_LAYOUTS = {  # format -> (image folder, label folder) of a flat layout with {split}_id.txt lists
    "atr": ("JPEGImages", "SegmentationClassAug"),
    "cihp": ("images", "labels"),
    "pascal_person_part": ("JPEGImages", "SegmentationPart"),
    "folder": ("images", "labels"),
    "ccp": ("images", "labels"),
}


@pytest.fixture(scope="module")
def folder_roots(tmp_path_factory) -> dict[str, Path]:
    roots = {}
    for fmt, (images, labels) in FOLDER_LAYOUTS.items():
        root = roots[fmt] = tmp_path_factory.mktemp(fmt)
        write_black_image(root / images / "a.jpg")
        (root / labels).mkdir()
        Image.fromarray(np.zeros(ANNOTATED_SIZE, np.uint8)).save(root / labels / "a.png")
    return roots


ID_LISTS = st.text(max_size=40).map(str.encode) | mutated_bytes(b"a\n# comment\n/JPEGImages/a.jpg /labels/a.png\n")


@FUZZ
@given(fmt=st.sampled_from(sorted(FOLDER_LAYOUTS)), id_list=ID_LISTS)
def test_id_lists_broken(folder_roots, fmt, id_list):
    root = folder_roots[fmt]
    (root / "val_id.txt").write_bytes(id_list)
    schema = {"folder": "lip"}.get(fmt)
    _check(fmt, root, schema=schema, split="val") if schema else _check(fmt, root, split="val")


# Sides either small or, together, past PIL's decompression-bomb limit: never a 300 MB decode.
CLAIMED_SIDES = st.sampled_from([1, 40, 20_000, 100_000])


@FUZZ
@given(
    which=st.sampled_from(["image", "label"]),
    data=mutated_bytes(image_bytes(np.zeros(ANNOTATED_SIZE, np.uint8)))
    | mutated_bytes(image_bytes(np.zeros(ANNOTATED_SIZE + (3,), np.uint8), "JPEG"))
    | st.builds(png_claiming, CLAIMED_SIDES, CLAIMED_SIDES),
)
def test_images_and_labels_broken(folder_roots, which, data):
    root = folder_roots["folder"]
    (root / "val_id.txt").unlink(missing_ok=True)
    path = root / "images" / "a.jpg" if which == "image" else root / "labels" / "a.png"
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        _check("folder", root, schema="lip")
    finally:
        path.write_bytes(original)
