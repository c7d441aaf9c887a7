"""Dataset readers: every layout built in tmp_path, plus the real samples in shared data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from humanparse.data.image_io import DataError
from humanparse.errors import ConfigError
from humanparse.data.readers import (
    FORMATS,
    CCPReader,
    FolderReader,
    LIPReader,
    MPIIAnnotationReader,
    open_dataset,
)
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE, collate

# --------------------------------------------------------------------------------------
# helpers that write dataset files


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 7 + seed) % 256, (y * 11 + seed) % 256, (x + y + seed) % 256], axis=2).astype(np.uint8)


def _label(h: int, w: int, num_classes: int, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x // 3 + y // 3 + seed) % num_classes).astype(np.uint8)


def _save_image(path: Path, h: int = 12, w: int = 10, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = _rgb(h, w, seed)
    Image.fromarray(rgb).save(path, quality=95)
    return rgb


def _save_label(path: Path, label: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(label, mode="L").save(path)


def _pose_row(name: str, joints: list[tuple[str, str, str]]) -> str:
    return ",".join([name] + [",".join(j) for j in joints])


def _joints(x0: int) -> list[tuple[str, str, str]]:
    joints = [(str(x0 + j), str(2 * j + 1), "0") for j in range(16)]
    joints[4] = ("nan", "nan", "nan")
    joints[9] = (str(x0 + 9), "19", "1")
    return joints


# --------------------------------------------------------------------------------------
# registry


def test_formats_registry_and_default_schemas(tmp_path):
    assert set(FORMATS) == {"lip", "cihp", "atr", "pascal_person_part", "ccp", "folder", "mpii", "coco", "pseudo"}
    expected = {"lip": "lip", "cihp": "cihp", "atr": "atr", "pascal_person_part": "pascal_person_part", "ccp": "ccp"}
    for name, schema in expected.items():
        assert FORMATS[name].default_schema == schema
    assert FORMATS["folder"].default_schema is None
    _save_image(tmp_path / "images" / "a.png")
    with pytest.raises(DataError, match=r"'folder' format has no label schema of its own: name one \(--schema"):
        open_dataset("folder", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset format 'voc'"):
        open_dataset("voc", tmp_path)
    with pytest.raises(DataError, match="dataset root does not exist"):
        open_dataset("ccp", tmp_path / "absent")


# --------------------------------------------------------------------------------------
# LIP


def _lip_official(root: Path) -> dict[str, np.ndarray]:
    """Official layout; the annotations folder spelled 'Trainval' as some copies do."""
    labels = {}
    for split, ids in (("train", ["t1", "t2"]), ("val", ["v1", "v2", "v3"])):
        for i, sample_id in enumerate(ids):
            _save_image(root / "TrainVal_images" / f"{split}_images" / f"{sample_id}.jpg", 12, 10, seed=i)
            labels[sample_id] = _label(12, 10, 20, seed=i)
            _save_label(root / "Trainval_parsing_annotations" / f"{split}_segmentations" / f"{sample_id}.png", labels[sample_id])
    pose = root / "TrainVal_pose_annotations" / "lip_val_set.csv"
    pose.parent.mkdir(parents=True)
    pose.write_text(_pose_row("v1.jpg", _joints(0)) + "\n" + _pose_row("v2.jpg", _joints(100)) + "\n")
    return labels


def test_lip_official_layout_with_pose(tmp_path):
    labels = _lip_official(tmp_path)
    assert LIPReader.find_splits(tmp_path) == ["train", "val"]
    val = open_dataset("lip", tmp_path, split="val")
    assert len(val) == 3 and [val.sample_id(i) for i in range(3)] == ["v1", "v2", "v3"]
    s = val[1]
    assert s.image.shape == (12, 10, 3) and s.image.dtype == np.uint8
    assert np.array_equal(s.label, labels["v2"])
    assert s.meta["id"] == "v2" and s.meta["split"] == "val" and s.meta["schema"] == "lip"
    assert s.meta["image_path"].endswith("TrainVal_images/val_images/v2.jpg")
    assert s.meta["label_path"].endswith("val_segmentations/v2.png")
    kp = s.keypoints
    assert kp.shape == (1, 16, 3) and kp.dtype == np.float32
    assert kp[0, 0].tolist() == [100, 1, VISIBLE]  # flag 0 -> visible
    assert kp[0, 9].tolist() == [109, 19, OCCLUDED]  # flag 1 -> occluded
    assert kp[0, 4, 2] == MISSING and np.isnan(kp[0, 4, :2]).all()
    # v3 has no CSV row: all joints MISSING, so batches still stack.
    assert (val[2].keypoints[..., 2] == MISSING).all() and val[2].keypoints.shape == (1, 16, 3)
    # train has no pose CSV at all.
    train = open_dataset("lip", tmp_path, split="train")
    assert train[0].keypoints is None and len(train) == 2
    # No split: every split found, in order.
    both = open_dataset("lip", tmp_path)
    assert len(both) == 5 and both[-1].meta["split"] == "val" and both[0].meta["split"] == "train"


def test_lip_common_layout_id_list_and_pose_problems(tmp_path):
    for i, sample_id in enumerate(["a", "b", "c"]):
        _save_image(tmp_path / "val_images" / f"{sample_id}.jpg", seed=i)
        _save_label(tmp_path / "val_segmentations" / f"{sample_id}.png", _label(12, 10, 20, i))
    (tmp_path / "val_id.txt").write_text("c\na\nghost\n")
    reader = open_dataset("lip", tmp_path, split="val")
    assert [reader.sample_id(i) for i in range(len(reader))] == ["c", "a", "ghost"]  # list order
    assert reader[0].meta["id"] == "c"
    with pytest.raises(DataError, match=r"val_images/ghost: no image file with this stem \(id listed in val_id.txt\)"):
        reader[2]
    # A pose CSV with a malformed row and a row for an image that is not there.
    bad = [("1", "2", "0")] * 15
    (tmp_path / "lip_val_set.csv").write_text(
        "\n".join([_pose_row("a.jpg", _joints(0)), _pose_row("b.jpg", bad), _pose_row("zz.jpg", _joints(5))]) + "\n"
    )
    with pytest.raises(DataError, match="line 2: expected 49 columns"):
        open_dataset("lip", tmp_path, split="val")
    lenient = open_dataset("lip", tmp_path, split="val", strict=False)
    messages = [str(p) for p in lenient.problems]
    assert any("lip_val_set.csv: line 2: expected 49 columns" in m for m in messages)
    assert any("lip_val_set.csv: line 3: image 'zz.jpg' is not in" in m for m in messages)
    assert lenient[1].keypoints[0, 0].tolist() == [0, 1, VISIBLE]


def test_lip_reader_on_real_files(shared_data, tmp_path):
    """The two real labelled LIP images in an official layout, with their real pose rows."""
    lip = shared_data / "lip_cihp_samples" / "lip"
    placement = {"36_453991": "val", "77_471474": "train"}
    for stem, split in placement.items():
        (tmp_path / "TrainVal_images" / f"{split}_images").mkdir(parents=True, exist_ok=True)
        (tmp_path / "TrainVal_images" / f"{split}_images" / f"{stem}.jpg").symlink_to(lip / "images" / f"{stem}.jpg")
        seg = tmp_path / "TrainVal_parsing_annotations" / f"{split}_segmentations"
        seg.mkdir(parents=True, exist_ok=True)
        (seg / f"{stem}.png").symlink_to(lip / "labels" / f"{stem}.png")
    with (lip / "pose" / "lip_val_groundtruth.csv").open() as f:
        row = next(r for r in csv.reader(f) if r[0] == "36_453991.jpg")
    (tmp_path / "TrainVal_pose_annotations").mkdir()
    (tmp_path / "TrainVal_pose_annotations" / "lip_val_set.csv").write_text(",".join(row) + "\n")

    sample = open_dataset("lip", tmp_path, split="val")[0]
    with Image.open(lip / "images" / "36_453991.jpg") as im:
        assert sample.image.shape == (im.height, im.width, 3)
    assert set(np.unique(sample.label).tolist()) == {0, 2, 5, 13, 14, 15}  # as the data README lists
    for joint in range(16):
        x, y, flag = row[1 + 3 * joint : 4 + 3 * joint]
        if x == "nan":
            assert sample.keypoints[0, joint, 2] == MISSING
        else:
            assert sample.keypoints[0, joint].tolist() == [float(x), float(y), OCCLUDED if flag == "1" else VISIBLE]
    train = open_dataset("lip", tmp_path, split="train")
    assert len(train) == 1 and train[0].label.max() <= 19 and train[0].keypoints is None


# --------------------------------------------------------------------------------------
# CIHP


def test_cihp_official_layout(tmp_path):
    base = tmp_path / "instance-level_human_parsing"
    for folder, split in (("Training", "train"), ("Validation", "val")):
        for i, sample_id in enumerate(["0000001", "0000002"]):
            _save_image(base / folder / "Images" / f"{sample_id}.jpg", 9, 14, seed=i)
            _save_label(base / folder / "Category_ids" / f"{sample_id}.png", _label(9, 14, 20, i))
        (base / folder / f"{split}_id.txt").write_text("0000002\n")
    _save_image(base / "Testing" / "Images" / "0000009.jpg", 9, 14)
    reader = open_dataset("cihp", tmp_path)
    assert FORMATS["cihp"].find_splits(tmp_path) == ["train", "val", "test"]
    assert len(reader) == 3  # one listed id per labelled split, every test image
    test = open_dataset("cihp", tmp_path, split="test")
    assert test[0].label is None and test[0].meta["schema"] == "cihp"
    val = open_dataset("cihp", tmp_path, split="val")[0]
    assert val.meta["id"] == "0000002" and np.array_equal(val.label, _label(9, 14, 20, 1))


def test_cihp_sample_layout(shared_data):
    root = shared_data / "lip_cihp_samples" / "cihp"
    ids = (root / "train_id.txt").read_text().split()
    reader = open_dataset("cihp", root, split="train")
    assert len(reader) == len(ids) == 5
    for i, sample in enumerate(reader):
        assert sample.meta["id"] == ids[i]
        assert sample.label.shape == sample.image.shape[:2] and sample.label.max() <= 19
    assert 10 in np.unique(open_dataset("cihp", root, split="val")[0].label)  # Torso-skin in 0002190


# --------------------------------------------------------------------------------------
# ATR and PASCAL-Person-Part


def test_atr_layouts(tmp_path):
    base = tmp_path / "humanparsing"
    for i in range(3):
        _save_image(base / "JPEGImages" / f"{i}.jpg", seed=i)
        _save_label(base / "SegmentationClassAug" / f"{i}.png", _label(12, 10, 18, i))
    whole = open_dataset("atr", tmp_path)
    assert len(whole) == 3 and whole[2].meta["split"] is None
    assert np.array_equal(whole[2].label, _label(12, 10, 18, 2))
    (base / "train_id.txt").write_text("0\n1\n")
    (base / "val.txt").write_text("2\n")
    assert FORMATS["atr"].find_splits(tmp_path) == ["train", "val"]
    assert [s.meta["id"] for s in open_dataset("atr", tmp_path, split="val")] == ["2"]
    # The LIP-like layout of other copies.
    other = tmp_path / "other"
    _save_image(other / "train_images" / "x.jpg")
    _save_label(other / "train_segmentations" / "x.png", np.full((12, 10), 18, np.uint8))
    with pytest.raises(DataError, match=r"x.png: label values \[18\] are outside the schema's 0..17"):
        open_dataset("atr", other, split="train")[0]


def test_pascal_person_part_lists_of_paths(tmp_path):
    for i, stem in enumerate(["2008_000003", "2008_000008"]):
        _save_image(tmp_path / "JPEGImages" / f"{stem}.jpg", seed=i)
    ok = _label(12, 10, 7)
    ok[0, 0] = 255  # ignore is allowed
    _save_label(tmp_path / "SegmentationPart" / "2008_000003.png", ok)
    _save_label(tmp_path / "SegmentationPart" / "2008_000008.png", np.full((12, 10), 7, np.uint8))
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "train_id.txt").write_text("/JPEGImages/2008_000003.jpg /SegmentationPart/2008_000003.png\n")
    (tmp_path / "list" / "val_id.txt").write_text("2008_000008\n")
    train = open_dataset("pascal_person_part", tmp_path, split="train")
    assert len(train) == 1 and np.array_equal(train[0].label, ok)
    with pytest.raises(DataError, match=r"2008_000008.png: label values \[7\] are outside the schema's 0..6"):
        open_dataset("pascal_person_part", tmp_path, split="val")[0]
    with pytest.raises(DataError, match="no id list for split 'test'"):
        open_dataset("pascal_person_part", tmp_path, split="test")


# --------------------------------------------------------------------------------------
# CCP


def test_ccp_upstream_mat_layout(tmp_path):
    labels = {}
    for i, stem in enumerate(["0001", "0002", "0003"]):
        _save_image(tmp_path / "photos" / f"{stem}.jpg", 16, 11, seed=i)
    mats = tmp_path / "annotations" / "pixel-level"
    mats.mkdir(parents=True)
    for i, stem in enumerate(["0001", "0002"]):
        labels[stem] = _label(16, 11, 59, i)
        scipy.io.savemat(mats / f"{stem}.mat", {"groundtruth": labels[stem]})
    reader = open_dataset("ccp", tmp_path)
    # The .mat files define the samples: photo 0003 has no annotation and is unlabelled data.
    assert [s.meta["id"] for s in reader] == ["0001", "0002"]
    assert np.array_equal(reader[1].label, labels["0002"]) and reader[1].label.dtype == np.uint8
    assert reader[0].meta["label_path"].endswith("0001.mat")
    scipy.io.savemat(mats / "0004.mat", {"labels": labels["0001"]})
    _save_image(tmp_path / "photos" / "0004.jpg", 16, 11)
    with pytest.raises(DataError, match=r"0004.mat: label .mat lacks 'groundtruth'"):
        open_dataset("ccp", tmp_path)[2]
    (tmp_path / "photos" / "0004.jpg").unlink()
    result = CCPReader(tmp_path).inspect(2)
    # Without the photo too, both problems come back together.
    assert len(result.errors) == 2 and "no image file" in str(result.errors[0])
    assert "lacks 'groundtruth'" in str(result.errors[1])


def test_ccp_mat_label_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    import humanparse.data.readers.ccp as ccp

    _save_image(tmp_path / "photos" / "0001.jpg", 30, 40)
    mats = tmp_path / "annotations" / "pixel-level"
    mats.mkdir(parents=True)
    scipy.io.savemat(mats / "0001.mat", {"groundtruth": _label(30, 40, 59)}, do_compression=True)
    assert CCPReader(tmp_path, max_pixels=1200)[0].label.shape == (30, 40)

    def no_loading(path):
        raise AssertionError("the .mat was read beyond its header")

    monkeypatch.setattr(ccp, "load_mat", no_loading)
    result = CCPReader(tmp_path, max_pixels=1199).inspect(0)
    # The image is over the limit too: each file is its own problem.
    assert [Path(e.path).name for e in result.errors] == ["0001.jpg", "0001.mat"]
    assert "label is 40x30 pixels (W x H, 1,200 in all), over the limit of 1,199" in result.errors[1].problem


def test_ccp_png_layout(tmp_path):
    _save_image(tmp_path / "images" / "0001.jpg", 16, 11)
    label = _label(16, 11, 59)
    label[-1, -1] = 58  # the last CCP class
    _save_label(tmp_path / "labels" / "0001.png", label)
    sample = CCPReader(tmp_path)[0]
    assert np.array_equal(sample.label, label) and sample.meta["schema"] == "ccp"


# --------------------------------------------------------------------------------------
# generic folder: image modes, EXIF, and every per-file error


def test_folder_image_modes_and_exif(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    grey = (np.arange(60).reshape(6, 10) * 4).astype(np.uint8)
    Image.fromarray(grey, "L").save(images / "grey.png")
    rgba = np.zeros((6, 10, 4), np.uint8)
    rgba[..., 1] = 100
    rgba[:3, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(images / "rgba.png")
    palette_image = Image.fromarray((np.arange(60).reshape(6, 10) % 3).astype(np.uint8), "P")
    palette_image.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90] + [0] * 759)
    palette_image.save(images / "palette.png")
    Image.fromarray((np.arange(60).reshape(6, 10) * 1000).astype(np.uint16)).save(images / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 6x10, shown rotated to 10x6
    Image.fromarray(_rgb(6, 10)).save(images / "rotated.jpg", exif=exif)
    for stem in ("grey", "rgba", "palette", "sixteen"):
        _save_label(labels / f"{stem}.png", _label(6, 10, 20))
    _save_label(labels / "rotated.png", _label(10, 6, 20))

    reader = FolderReader(tmp_path, schema="lip")
    samples = {s.meta["id"]: s for s in reader}
    for s in samples.values():
        assert s.image.dtype == np.uint8 and s.image.ndim == 3 and s.image.shape[2] == 3
    assert (samples["grey"].image[..., 2] == grey).all()
    assert samples["rgba"].image[0, 0].tolist() == [0, 100, 0] and samples["rgba"].image[5, 0].tolist() == [255, 255, 255]
    assert samples["palette"].image[0, 1].tolist() == [40, 50, 60]
    assert samples["sixteen"].image.max() == round(59 * 1000 / 257)
    assert samples["rotated"].image.shape == (10, 6, 3)  # label made for the upright image
    assert samples["rotated"].meta["schema"] == "lip" and samples["rotated"].meta["format"] == "folder"


def test_folder_errors_name_the_file(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    for i, stem in enumerate(["good", "small", "values", "nolabel", "trunc"]):
        _save_image(images / f"{stem}.jpg", 12, 10, seed=i)
    _save_label(labels / "good.png", _label(12, 10, 7))
    _save_label(labels / "small.png", _label(11, 10, 7))
    bad_values = _label(12, 10, 7)
    bad_values[3, 3] = 9
    _save_label(labels / "values.png", bad_values)
    _save_label(labels / "trunc.png", _label(12, 10, 7))
    data = (images / "trunc.jpg").read_bytes()
    (images / "trunc.jpg").write_bytes(data[: len(data) // 2])
    reader = FolderReader(tmp_path, schema="pascal_person_part")
    by_id = {reader.sample_id(i): i for i in range(len(reader))}
    assert reader[by_id["good"]].label.shape == (12, 10)
    with pytest.raises(DataError, match=r"small.png: label is 11x10 \(HxW\) but its image small.jpg is 12x10"):
        reader[by_id["small"]]
    with pytest.raises(DataError, match=r"values.png: label values \[9\] are outside the schema's 0..6 \(255 = ignore\)"):
        reader[by_id["values"]]
    with pytest.raises(DataError, match=r"nolabel.png: label file does not exist \(image nolabel.jpg needs one\)"):
        reader[by_id["nolabel"]]
    with pytest.raises(DataError, match=r"trunc.jpg: unreadable or truncated image"):
        reader[by_id["trunc"]]
    # Optional labels: the unlabelled image loads without one.
    relaxed = FolderReader(tmp_path, schema="pascal_person_part", labels_required=False)
    assert relaxed[by_id["nolabel"]].label is None
    # A label without an image is a problem of the dataset: strict readers stop at it.
    _save_label(labels / "orphan.png", _label(12, 10, 7))
    with pytest.raises(DataError, match=r"orphan.png: label file has no image"):
        FolderReader(tmp_path, schema="pascal_person_part")
    lenient = FolderReader(tmp_path, schema="pascal_person_part", strict=False)
    assert [Path(p.path).name for p in lenient.problems] == ["orphan.png"]


def test_folder_splits_id_list_and_images_only(tmp_path):
    for split in ("train", "val"):
        _save_image(tmp_path / "images" / split / f"{split}1.png")
        _save_label(tmp_path / "labels" / split / f"{split}1.png", _label(12, 10, 20))
    assert FolderReader.find_splits(tmp_path) == ["train", "val"]
    assert open_dataset("folder", tmp_path, split="val", schema="lip")[0].meta["id"] == "val1"
    only_images = tmp_path / "unlabelled"
    _save_image(only_images / "p.jpg")
    sample = open_dataset("folder", only_images, schema="ccp")[0]
    assert sample.label is None and sample.meta["label_path"] is None
    flat = tmp_path / "flat"
    for stem in ("a", "b"):
        _save_image(flat / "images" / f"{stem}.png")
        _save_label(flat / "labels" / f"{stem}.png", _label(12, 10, 20))
    (tmp_path / "only_b.txt").write_text("b\n")
    reader = open_dataset("folder", flat, schema="lip", id_list=tmp_path / "only_b.txt")
    assert [s.meta["id"] for s in reader] == ["b"]


def test_reader_feeds_a_dataloader(tmp_path):
    import torch.utils.data

    labels = _lip_official(tmp_path)
    loader = torch.utils.data.DataLoader(open_dataset("lip", tmp_path, split="val"), batch_size=3, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 3, 12, 10) and batch["keypoints"].shape == (3, 1, 16, 3)
    assert batch["label"][0].numpy().tolist() == labels["v1"].tolist()


# --------------------------------------------------------------------------------------
# MPII


def test_mpii_json_reader(tmp_path):
    joints = [[10.0 + j, 20.0 + j] for j in range(16)]
    vis = [1] * 16
    vis[3] = 0
    entries = [
        {"image": "a.jpg", "joints": joints, "joints_vis": vis, "center": [15.0, 25.0], "scale": 1.5},
        {"image": "b.jpg", "joints": joints, "joints_vis": [1] * 16, "center": [5.0, 5.0], "scale": 0.5},
        {"image": "a.jpg", "joints": [[1.0, 1.0]] * 16, "joints_vis": [1] * 16, "center": [2.0, 2.0], "scale": 1.0},
    ]
    _save_image(tmp_path / "images" / "a.jpg", 40, 50)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "mpii_val.json").write_text(json.dumps(entries))
    reader = open_dataset("mpii", tmp_path)
    assert FORMATS["mpii"].find_splits(tmp_path) == ["val"] and len(reader) == 2
    a = reader[0]
    assert a.meta["id"] == "a" and a.keypoints.shape == (2, 16, 3) and a.image.shape == (40, 50, 3)
    assert a.keypoints[0, 0].tolist() == [9.0, 19.0, VISIBLE]  # 1-based MATLAB pixels -> 0-based
    assert a.keypoints[0, 3, 2] == MISSING and np.isnan(a.keypoints[0, 3, :2]).all()
    assert a.keypoints[1, 5].tolist() == [0.0, 0.0, VISIBLE]
    assert a.meta["center"].tolist() == [[14.0, 24.0], [1.0, 1.0]] and a.meta["scale"].tolist() == [1.5, 1.0]
    with pytest.raises(DataError, match=r"images/b.jpg: image file does not exist"):
        reader[1]
    entries.append({"image": "c.jpg", "joints": joints[:15], "joints_vis": vis})
    (tmp_path / "annotations" / "mpii_val.json").write_text(json.dumps(entries))
    with pytest.raises(DataError, match=r"mpii_val.json: entry 3 \(c.jpg\), 'joints': expected 16 \[x, y\] pairs, got a list of 15 items"):
        open_dataset("mpii", tmp_path)
    assert len(open_dataset("mpii", tmp_path, strict=False).problems) == 1


def _mpii_people(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16, 2) 1-based joints and (N, 16) annotated flags of made-up people."""
    rng = np.random.default_rng(seed)
    joints = np.round(rng.uniform(20, 180, (count, 16, 2)), 1)
    annotated = rng.random((count, 16)) > 0.2
    return joints, annotated


def _write_mpii_gt(path: Path, joints: np.ndarray, annotated: np.ndarray, headboxes: np.ndarray) -> None:
    """An MPII ground-truth .mat as the evaluation scripts ship it: (16, 2, N), (16, N), (2, 2, N)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {
        "pos_gt_src": np.where(annotated[..., None], joints, 0).transpose(1, 2, 0),
        "jnt_missing": (~annotated).astype(np.uint8).T, "headboxes_src": headboxes.transpose(1, 2, 0),
    })


def _mpii_entries(joints: np.ndarray, annotated: np.ndarray, images: list[str]) -> list[dict]:
    return [
        {"image": image, "joints": np.where(a[:, None], j, -1.0).tolist(), "joints_vis": a.astype(int).tolist(),
         "center": [100.0 + i, 90.0], "scale": 0.8 + 0.1 * i}
        for i, (j, a, image) in enumerate(zip(joints, annotated, images))
    ]


def test_mpii_people_get_their_head_boxes_from_the_ground_truth(tmp_path):
    joints, annotated = _mpii_people(4)
    headboxes = np.arange(4 * 4, dtype=np.float64).reshape(4, 2, 2) + 10.0
    entries = _mpii_entries(joints[:3], annotated[:3], ["a.jpg", "b.jpg", "a.jpg"])
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "mpii_val.json").write_text(json.dumps(entries))
    # mmpose's layout: the ground truth beside the json; the json may list its first people only
    _write_mpii_gt(tmp_path / "annotations" / "mpii_gt_val.mat", joints, annotated, headboxes)
    _save_image(tmp_path / "images" / "a.jpg", 200, 220)
    a = open_dataset("mpii", tmp_path)[0]
    # entries 0 and 2 are the people of a.jpg; the .mat's corners are 1-based like its joints
    np.testing.assert_allclose(a.meta["headbox"], headboxes[[0, 2]] - 1.0)
    assert a.meta["entry"].tolist() == [0, 2]
    # the top-down box: side 200 x scale x 1.25 about the centre moved down by 15 x scale
    cx, cy, scale = 100.0 + 2 - 1, 90.0 - 1, 1.0
    side = 250 * scale
    np.testing.assert_allclose(a.meta["box"][1], [cx - side / 2, cy + 15 * scale - side / 2, cx + side / 2,
                                                  cy + 15 * scale + side / 2], rtol=1e-6)

    # Listed in another order, the people are not those of the ground truth: an error, not
    # someone else's head box.
    swapped = [entries[1], entries[0], entries[2]]
    (tmp_path / "annotations" / "mpii_val.json").write_text(json.dumps(swapped))
    with pytest.raises(DataError, match=r"mpii_val.json: entry 0 \(b.jpg\): its (annotated joints are not those of|"
                                        r"joints lie up to [0-9.]+ px from those of) person 0 of .*mpii_gt_val.mat"):
        open_dataset("mpii", tmp_path)
    lenient = open_dataset("mpii", tmp_path, strict=False)
    assert len(lenient.problems) == 1 and "headbox" not in lenient.inspect(0).meta
    # more people than the ground truth holds
    (tmp_path / "annotations" / "mpii_val.json").write_text(json.dumps(entries + entries[:2]))
    with pytest.raises(DataError, match="lists 5 people but .*mpii_gt_val.mat has 4"):
        open_dataset("mpii", tmp_path)


def test_mpii_head_boxes_from_a_named_file_through_the_config(tmp_path):
    joints, annotated = _mpii_people(2, seed=1)
    headboxes = np.ones((2, 2, 2)) * [[[5.0], [25.0]]]
    json_path = tmp_path / "people.json"
    json_path.write_text(json.dumps(_mpii_entries(joints, annotated, ["a.jpg", "b.jpg"])))
    _write_mpii_gt(tmp_path / "gt" / "truth.mat", joints, annotated, headboxes)
    _save_image(tmp_path / "a.jpg", 200, 220)
    reader = open_dataset("mpii", json_path, headboxes=tmp_path / "gt" / "truth.mat")
    np.testing.assert_allclose(reader[0].meta["headbox"], headboxes[:1] - 1.0)
    assert "headbox" not in open_dataset("mpii", json_path)[0].meta  # nothing beside the json to find

    from humanparse.config import load_config
    from humanparse.engine.data import open_split

    data = load_config(None, ["data.format=mpii", f"data.root={json_path}", "data.val_split=null",
                              f"data.headboxes={tmp_path / 'gt' / 'truth.mat'}"])["data"]
    reader, _ = open_split(data, "val_split", "val_ids")
    np.testing.assert_allclose(reader[0].meta["headbox"], headboxes[:1] - 1.0)
    with pytest.raises(ConfigError, match="data.headboxes is MPII's ground-truth .mat; the 'lip' format"):
        open_split({**data, "format": "lip"}, "val_split", "val_ids")


def test_mpii_real_json_and_mat(shared_data, tmp_path):
    json_path = shared_data / "pose" / "mmpose_samples" / "mpii" / "test_mpii.json"
    entries = json.loads(json_path.read_text())
    reader = open_dataset("mpii", json_path)
    assert len(reader) == len({e["image"] for e in entries}) == 5
    first = reader[0]
    entry = next(e for e in entries if e["image"] == first.meta["image_path"].rsplit("/", 1)[-1])
    assert first.keypoints.shape == (1, 16, 3)
    assert np.allclose(first.keypoints[0, :, :2], np.asarray(entry["joints"]) - 1)

    mat = shared_data / "pose" / "mpii_val_gt" / "detections_our_format.mat"
    people = MPIIAnnotationReader(mat)
    assert len(people) == 2958
    raw = scipy.io.loadmat(mat)
    record = people[7]
    assert record.keypoints.shape == (1, 16, 3) and record.meta["headbox"].shape == (1, 2, 2)
    annotated = raw["jnt_missing"][:, 7] == 0
    assert np.allclose(record.keypoints[0, annotated, :2], raw["pos_gt_src"][annotated, :, 7] - 1)
    assert (record.keypoints[0, ~annotated, 2] == MISSING).all()
    with pytest.raises(DataError, match="names no images"):
        open_dataset("mpii", mat)

    # mmpose's sample json lists the first five people of the validation ground truth, in its order
    with_boxes = open_dataset("mpii", json_path, headboxes=mat)
    for i in range(len(with_boxes)):
        sample = with_boxes[i]
        np.testing.assert_allclose(sample.meta["headbox"], people.headboxes[sample.meta["entry"]])
    assert sorted(e for i in range(5) for e in with_boxes[i].meta["entry"].tolist()) == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------------------
# COCO


def _coco_json(path: Path, images: list[dict], annotations: list[dict]) -> None:
    names = ["j%d" % i for i in range(17)]
    path.write_text(json.dumps({
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
    }))


def test_coco_reader_flags_and_errors(tmp_path):
    _save_image(tmp_path / "one.jpg", 30, 40)
    _save_image(tmp_path / "two.jpg", 30, 40)
    kp = []
    for j in range(17):
        kp += [float(j), float(j + 1), [0, 1, 2][j % 3]]
    _coco_json(
        tmp_path / "person_keypoints.json",
        [{"id": 1, "file_name": "one.jpg", "height": 30, "width": 40},
         {"id": 2, "file_name": "two.jpg", "height": 31, "width": 40}],
        [{"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": kp, "bbox": [1, 2, 3, 4]},
         {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 1, "keypoints": [0] * 51, "bbox": [0, 0, 9, 9]}],
    )
    reader = open_dataset("coco", tmp_path / "person_keypoints.json")
    one = reader[0]
    assert one.keypoints.shape == (1, 17, 3)  # the crowd region is not a person
    assert one.keypoints[0, 0, 2] == MISSING and np.isnan(one.keypoints[0, 0, :2]).all()
    assert one.keypoints[0, 1].tolist() == [1.0, 2.0, OCCLUDED]
    assert one.keypoints[0, 2].tolist() == [2.0, 3.0, VISIBLE]
    assert one.meta["bbox"].tolist() == [[1, 2, 3, 4]] and one.meta["annotation_id"].tolist() == [10]
    # two.jpg has no people, and the json gives it the wrong height.
    result = reader.inspect(1)
    assert result.keypoints.shape == (0, 17, 3)
    assert len(result.errors) == 1 and "image is 30x40 (HxW) but person_keypoints.json says 31x40" in str(result.errors[0])
    with pytest.raises(DataError, match="joint schema has 16"):
        open_dataset("coco", tmp_path / "person_keypoints.json", schema="mpii")
    _coco_json(tmp_path / "bad.json", [{"id": 1, "file_name": "one.jpg"}],
               [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 3] * 17}])
    with pytest.raises(DataError, match=r"bad.json: annotations\[0\] \(image one.jpg\), 'keypoints': visibility flags must be 0, 1 or 2"):
        open_dataset("coco", tmp_path / "bad.json")


def test_coco_real_sample(shared_data):
    json_path = shared_data / "pose" / "mmpose_samples" / "coco" / "test_coco.json"
    raw = json.loads(json_path.read_text())
    reader = open_dataset("coco", json_path)
    assert len(reader) == len(raw["images"]) == 4
    for sample in reader:
        image = next(i for i in raw["images"] if i["file_name"] in sample.meta["image_path"])
        anns = [a for a in raw["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]]
        assert sample.keypoints.shape == (len(anns), 17, 3)
        assert sample.image.shape[:2] == (image["height"], image["width"])
        for person, ann in enumerate(anns):
            triples = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
            assert sample.keypoints[person, :, 2].tolist() == triples[:, 2].tolist()  # COCO's v is our flag
            shown = triples[:, 2] > 0
            assert np.array_equal(sample.keypoints[person, shown, :2], triples[shown, :2])
            assert np.isnan(sample.keypoints[person, ~shown, :2]).all()
