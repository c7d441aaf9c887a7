"""CCP with joints from a separate LIP pose CSV (``keypoints=``), and its ``unlabeled`` split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from helpers import write_csv_rows
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.data.image_io import DataError
from humanparse.data.readers import CCPReader, open_dataset
from humanparse.data.readers.lip import read_lip_pose_csv
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.engine.data import open_split
from humanparse.errors import ConfigError

HEIGHT, WIDTH = 16, 12


def _photo(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def _joints_row(name: str, x0: float) -> list[str]:
    """16 joints at (x0 + j, 2j + 1); joint 4 missing (nan), joint 9 flagged occluded (1)."""
    row = [name]
    for j in range(16):
        row += ["nan", "nan", "nan"] if j == 4 else [str(x0 + j), str(2 * j + 1), "1" if j == 9 else "0"]
    return row


def ccp_png_layout(root: Path, stems: list[str]) -> Path:
    for i, stem in enumerate(stems):
        _photo(root / "images" / f"{stem}.jpg", i)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((HEIGHT, WIDTH), i % 59, np.uint8), mode="L").save(root / "labels" / f"{stem}.png")
    return root


def test_keypoints_attach_to_the_rows_ids_and_a_photo_without_a_row_gets_missing_joints(tmp_path):
    root = ccp_png_layout(tmp_path / "ccp", ["0001", "0002", "0003"])
    # Rows name photos with and without the suffix, out of order; 0002 has none.
    csv = write_csv_rows(tmp_path / "joints.csv", [_joints_row("0003", 30), _joints_row("0001.jpg", 10)])
    reader = open_dataset("ccp", root, keypoints=csv)
    assert reader.joint_schema is not None and reader.joint_schema.name == "lip"
    assert "joints.csv" in reader.keypoints_origin and "not hand labels" in reader.keypoints_origin
    by_id = {reader.sample_id(i): reader[i] for i in range(len(reader))}
    for stem, x0 in (("0001", 10), ("0003", 30)):
        kp = by_id[stem].keypoints
        assert kp.shape == (1, 16, 3) and kp.dtype == np.float32
        assert kp[0, 0].tolist() == [x0, 1, VISIBLE] and kp[0, 9].tolist() == [x0 + 9, 19, OCCLUDED]
        assert kp[0, 4, 2] == MISSING
        assert by_id[stem].label is not None
    assert by_id["0002"].keypoints.shape == (1, 16, 3) and (by_id["0002"].keypoints[..., 2] == MISSING).all()
    # Without the file CCP has no joints at all.
    plain = open_dataset("ccp", root)
    assert plain.joint_schema is None and plain.keypoints_origin is None and plain[0].keypoints is None


def test_keypoints_in_the_upstream_layout_cover_its_unlabelled_photos_too(tmp_path):
    for i, stem in enumerate(["0001", "0002"]):
        _photo(tmp_path / "photos" / f"{stem}.jpg", i)
    mats = tmp_path / "annotations" / "pixel-level"
    mats.mkdir(parents=True)
    scipy.io.savemat(mats / "0001.mat", {"groundtruth": np.zeros((HEIGHT, WIDTH), np.uint8)})
    csv = write_csv_rows(tmp_path / "joints.csv", [_joints_row("0001.jpg", 1), _joints_row("0002.jpg", 2)])
    reader = CCPReader(tmp_path, keypoints=csv)  # photo 0002 is in photos/: its row is no problem
    assert len(reader) == 1 and reader[0].keypoints[0, 0, 0] == 1


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["0001.jpg", "1", "2", "0"]], r"joints.csv: line 1: expected 49 columns"),
        ([_joints_row("0001.jpg", 1)[:-1] + ["2"]], r"joints.csv: line 1, column 49: visibility flag '2'"),
        ([_joints_row("0001.jpg", 1), _joints_row("0009.jpg", 1)], r"joints.csv: line 2: image '0009.jpg' is not in"),
        ([_joints_row("0001.jpg", 1), _joints_row("0001", 2)], r"joints.csv: line 2: image '0001' has a second row"),
        ([_joints_row("0001.jpg", 1)[:5] + ["x"] + _joints_row("0001.jpg", 1)[6:]], r"line 1, column 6: .* not a number"),
    ],
)
def test_a_malformed_keypoints_csv_is_a_data_error_naming_the_file(tmp_path, rows, message):
    root = ccp_png_layout(tmp_path / "ccp", ["0001"])
    csv = write_csv_rows(tmp_path / "joints.csv", rows)
    with pytest.raises(DataError, match=message):
        open_dataset("ccp", root, keypoints=csv)
    # A lenient reader (data check's) collects the problem and loads the rest.
    lenient = open_dataset("ccp", root, keypoints=csv, strict=False)
    assert len(lenient.problems) == 1 and lenient[0].keypoints.shape == (1, 16, 3)


def test_a_missing_keypoints_csv_is_named(tmp_path):
    root = ccp_png_layout(tmp_path / "ccp", ["0001"])
    with pytest.raises(DataError, match=r"absent.csv: pose CSV does not exist"):
        open_dataset("ccp", root, keypoints=tmp_path / "absent.csv")


def test_the_unlabeled_split_is_pose_only_and_read_only_when_named(tmp_path):
    root = ccp_png_layout(tmp_path / "ccp", ["0001"])
    with pytest.raises(DataError, match=r"no unlabeled_images/ folder for the 'unlabeled' split"):
        open_dataset("ccp", root, split="unlabeled")
    for i, stem in enumerate(["1005", "1006"]):
        _photo(root / "unlabeled_images" / f"{stem}.jpg", i)
    # 1006's row is all nan: the detector found no one there.
    csv = write_csv_rows(tmp_path / "joints.csv", [_joints_row("1005.jpg", 5), ["1006.jpg"] + ["nan"] * 48])
    unlabeled = open_dataset("ccp", root, split="unlabeled", keypoints=csv)
    samples = list(unlabeled)
    assert [s.id for s in samples] == ["1005", "1006"] and all(s.label is None for s in samples)
    assert samples[0].keypoints[0, 0].tolist() == [5, 1, VISIBLE] and (samples[1].keypoints[..., 2] == MISSING).all()
    assert CCPReader.find_splits(root) == [None] and len(open_dataset("ccp", root)) == 1
    # The labelled photos' CSV does not fit the unlabelled folder.
    labelled = write_csv_rows(tmp_path / "labelled.csv", [_joints_row("0001.jpg", 1)])
    with pytest.raises(DataError, match=r"image '0001.jpg' is not in .*unlabeled_images"):
        open_dataset("ccp", root, split="unlabeled", keypoints=labelled)


def test_data_keypoints_resolves_beside_the_config_and_reaches_both_splits(tmp_path):
    root = ccp_png_layout(tmp_path / "ccp", ["0001", "0002"])
    write_csv_rows(root / "joints.csv", [_joints_row("0001.jpg", 1)])
    config_file = tmp_path / "ccp.yaml"
    config_file.write_text(
        "data: {format: ccp, root: ccp, keypoints: ccp/joints.csv, train_split: null, val_split: null, "
        "train_ids: 0001-0001, val_ids: 0002-0002}\n"
    )
    data = load_config(config_file)["data"]
    assert data["keypoints"] == str(root / "joints.csv")
    for split_key, ids_key in (("train_split", "train_ids"), ("val_split", "val_ids")):
        reader, indices = open_split(data, split_key, ids_key)
        assert reader.joint_schema is not None and reader[indices[0]].keypoints.shape == (1, 16, 3)
    with pytest.raises(ConfigError, match=r"data.keypoints: expected null or a path"):
        load_config(None, ["data.keypoints=3"])
    with pytest.raises(ConfigError, match=r"data.keypoints .* the 'lip' format takes none"):
        open_split({**data, "format": "lip"}, "train_split", "train_ids")


def test_data_check_lists_the_keypoints_and_says_whose_they_are(tmp_path, capsys):
    root = ccp_png_layout(tmp_path / "ccp", ["0001", "0002"])
    csv = write_csv_rows(tmp_path / "joints.csv", [_joints_row("0001.jpg", 1)])
    assert main(["data", "check", "--format", "ccp", str(root), "--keypoints", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "Keypoints (lip joint schema) from " in out and "joints.csv" in out and "not hand labels" in out
    assert out.splitlines()[4].split()[:4] == ["(all)", "2", "2", "1"]  # split, images, labels, keypoint rows
    assert main(["data", "check", "--format", "lip", str(root), "--keypoints", str(csv)]) == 2
    assert "the 'lip' format takes none" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the real data


@pytest.mark.shared_data
def test_every_real_ccp_photo_gets_the_detectors_joints(shared_data):
    ccp = shared_data / "ccp"
    if not (ccp / "keypoints" / "labeled_lip16.csv").is_file():
        pytest.skip(f"CCP keypoints missing under {ccp / 'keypoints'}")
    labelled = open_dataset("ccp", ccp, keypoints=ccp / "keypoints" / "labeled_lip16.csv")
    assert len(labelled) == 800 and labelled.sample_id(0) == "0001" and labelled.sample_id(799) == "0800"
    # Every photo has its row (and the detector found someone in each): no row is left MISSING.
    keypoints = np.stack([labelled.keypoints_of(i) for i in range(800)])
    assert keypoints.shape == (800, 1, 16, 3)
    assert (keypoints[..., 2] != MISSING).any(axis=(1, 2)).all()
    # Each row went to the photo it names.
    rows = read_lip_pose_csv(ccp / "keypoints" / "labeled_lip16.csv")
    for index in (0, 399, 799):
        assert np.array_equal(keypoints[index, 0], rows[f"{labelled.sample_id(index)}.jpg"], equal_nan=True)
    first, last = labelled[0], labelled[799]
    assert first.keypoints.shape == (1, 16, 3) and first.label.shape == first.image.shape[:2]
    assert (last.keypoints[0, :, :2][last.keypoints[0, :, 2] != MISSING] >= 0).all()
    unlabeled = open_dataset(
        "ccp", ccp, split="unlabeled", keypoints=ccp / "keypoints" / "unlabeled_lip16.csv"
    )
    assert len(unlabeled) == 1094 and unlabeled.sample_id(0) == "1005" and unlabeled.sample_id(1093) == "2098"
    keypoints = np.stack([unlabeled.keypoints_of(i) for i in range(1094)])
    assert (keypoints[..., 2] != MISSING).any(axis=(1, 2)).sum() == 1093  # one photo where no one was found
    sample = unlabeled[0]
    assert sample.label is None and sample.keypoints.shape == (1, 16, 3)
