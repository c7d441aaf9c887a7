"""``humanparse data check``: counts, histogram and every problem, on real and planted data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humanparse.cli import main
from humanparse.data.check import check_dataset, run_check
from humanparse.schemas import CCP, LIP

# --------------------------------------------------------------------------------------
# real data: no false problems


def test_check_ccp_real(shared_data):
    report = check_dataset("ccp", shared_data / "ccp", progress=False)
    assert report.ok, [str(p) for p in report.problems[:5]]
    split = report.split(None)
    assert (split.images, split.labels, split.keypoint_rows) == (800, 800, 0)
    assert split.min_size is not None and split.max_size is not None
    assert split.min_size[1] <= 550 <= split.max_size[1] and split.min_size[0] <= 832 <= split.max_size[0]
    counts = report.pixel_counts
    assert counts[: CCP.num_classes].sum() == counts.sum() > 0  # every value is a CCP class, no ignore
    # The data README: clogs, intimate, panties and swimwear never occur; background dominates.
    assert all(counts[CCP.classes.index(name)] == 0 for name in ("clogs", "intimate", "panties", "swimwear"))
    assert counts[0] == counts.max()


def test_check_lip_samples_real(shared_data, tmp_path):
    lip = shared_data / "lip_cihp_samples" / "lip"
    # 8 images, labels for 2: a partly labelled folder.
    report = check_dataset("folder", lip, schema="lip", labels_optional=True, progress=False)
    assert report.ok and (report.images, report.labels) == (8, 2)
    present = {i for i in range(LIP.num_classes) if report.pixel_counts[i]}
    assert present == {0, 2, 5, 13, 14, 15} | {0, 2, 5, 9, 14, 15, 18, 19}  # as the data README lists
    # Or check only the labelled two, through an id list.
    (tmp_path / "labelled.txt").write_text("36_453991\n77_471474\n")
    only_labelled = check_dataset("folder", lip, schema="lip", id_list=tmp_path / "labelled.txt", progress=False)
    assert only_labelled.ok and (only_labelled.images, only_labelled.labels) == (2, 2)
    # Requiring labels, each of the six unlabelled images is reported by name.
    strict = check_dataset("folder", lip, schema="lip", progress=False)
    unlabelled = sorted(p.stem for p in (lip / "images").iterdir() if not (lip / "labels" / f"{p.stem}.png").exists())
    assert len(unlabelled) == 6
    assert sorted(Path(p.path).stem for p in strict.problems) == unlabelled


def test_check_cihp_samples_real(shared_data):
    root = shared_data / "lip_cihp_samples" / "cihp"
    report = check_dataset("cihp", root, progress=False)
    assert report.ok
    assert [(s.name, s.images, s.labels) for s in report.splits] == [("train", 5, 5), ("val", 5, 5)]
    assert report.pixel_counts[10] > 0  # Torso-skin, CIHP's own class


def test_check_pose_files_real(shared_data, capsys):
    mat = shared_data / "pose" / "mpii_val_gt" / "detections_our_format.mat"
    report = check_dataset("mpii", mat)
    assert report.ok and report.split(None).keypoint_rows == 2958
    coco = check_dataset("coco", shared_data / "pose" / "mmpose_samples" / "coco" / "test_coco.json", progress=False)
    assert coco.ok and coco.images == 4 and coco.labels == 0
    assert main(["data", "check", "--format", "mpii", str(mat)]) == 0
    assert "2958" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# planted problems in a copy of a CCP subset


@pytest.fixture
def ccp_copy(shared_data, tmp_path) -> Path:
    root = tmp_path / "ccp"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(1, 7):
        stem = f"{i:04d}"
        shutil.copy(shared_data / "ccp" / "images" / f"{stem}.jpg", root / "images")
        shutil.copy(shared_data / "ccp" / "labels" / f"{stem}.png", root / "labels")
    return root


def test_clean_copy_passes(ccp_copy, capsys):
    assert main(["data", "check", "--format", "ccp", str(ccp_copy)]) == 0
    out = capsys.readouterr().out
    assert "no problems" in out and "null" in out and "share" in out


def test_planted_problems_are_each_reported(ccp_copy, capsys):
    truncated = ccp_copy / "images" / "0002.jpg"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    wrong_size = ccp_copy / "labels" / "0003.png"
    with Image.open(wrong_size) as im:
        smaller = np.asarray(im)[:-10]
        height, width = im.height, im.width  # the image's size too: CCP labels match their images
    Image.fromarray(smaller).save(wrong_size)
    out_of_range = ccp_copy / "labels" / "0004.png"
    with Image.open(out_of_range) as im:
        values = np.asarray(im).copy()
    values[5, 5] = 77
    Image.fromarray(values).save(out_of_range)
    missing = ccp_copy / "labels" / "0005.png"
    missing.unlink()
    orphan = ccp_copy / "labels" / "0999.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(orphan)

    report = check_dataset("ccp", ccp_copy, progress=False)
    by_file = {Path(p.path).name: p.problem for p in report.problems}
    assert "unreadable or truncated image" in by_file["0002.jpg"]
    assert f"label is {height - 10}x{width} (HxW) but its image 0003.jpg is {height}x{width}" in by_file["0003.png"]
    assert "label values [77] are outside the schema's 0..58" in by_file["0004.png"]
    assert "label file does not exist" in by_file["0005.png"]
    assert "label file has no image" in by_file["0999.png"]
    assert len(report.problems) == 5
    assert report.split(None).images == 6
    # Only samples without problems enter the histogram: 0001 and 0006.
    sound = 0
    for stem in ("0001", "0006"):
        with Image.open(ccp_copy / "labels" / f"{stem}.png") as im:
            sound += im.width * im.height
    assert report.pixel_counts.sum() == sound and report.counted_labels == 2

    assert run_check("ccp", ccp_copy, None, None) == 1
    printed = capsys.readouterr().out
    for name in ("0002.jpg", "0003.png", "0004.png", "0005.png", "0999.png"):
        assert name in printed
    assert "5 problems" in printed

    assert main(["data", "check", "--format", "ccp", str(ccp_copy)]) == 1
    assert str(truncated) in capsys.readouterr().out


def test_id_list_without_image_and_pose_csv_problems(tmp_path, capsys):
    root = tmp_path / "lip"
    for split in ("train", "val"):
        (root / f"{split}_images").mkdir(parents=True)
        (root / f"{split}_segmentations").mkdir()
        Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(root / f"{split}_images" / f"{split}1.jpg")
        Image.fromarray(np.ones((8, 6), np.uint8)).save(root / f"{split}_segmentations" / f"{split}1.png")
    (root / "val_id.txt").write_text("val1\nval_ghost\n")
    row = "val1.jpg," + ",".join(["1,2,0"] * 16)
    (root / "lip_val_set.csv").write_text(row + "\n" + "gone.jpg," + ",".join(["1,2,0"] * 16) + "\nval1.jpg,1,2\n")

    report = check_dataset("lip", root, progress=False)
    assert [(s.name, s.images, s.labels, s.keypoint_rows) for s in report.splits] == [
        ("train", 1, 1, 0), ("val", 2, 1, 1)
    ]
    problems = sorted(str(p) for p in report.problems)
    assert any("val_ghost: no image file with this stem (id listed in val_id.txt)" in p for p in problems)
    assert any("lip_val_set.csv: line 2: image 'gone.jpg' is not in" in p for p in problems)
    assert any("lip_val_set.csv: line 3: expected 49 columns" in p for p in problems)
    assert len(problems) == 3
    only_train = check_dataset("lip", root, split="train", progress=False)
    assert only_train.ok and [s.name for s in only_train.splits] == ["train"]
    assert main(["data", "check", "--format", "lip", "--split", "val", str(root)]) == 1
    assert "val_ghost" in capsys.readouterr().out


def test_cli_errors_before_walking(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    assert main(["data", "check", "--format", "folder", str(tmp_path)]) == 2
    assert "has no label schema of its own" in capsys.readouterr().err
    assert main(["data", "check", "--format", "folder", "--schema", "lip", str(tmp_path)]) == 0
    assert main(["data", "check", "--format", "ccp", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
