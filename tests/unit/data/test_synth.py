"""Synthetic humans: determinism, label and keypoint consistency, view handling,
non-triviality of colour and of left/right, and the on-disk LIP layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from humanparse.cli import main
from humanparse.data.image_io import DataError, read_image, read_label
from humanparse.data.pose_files import read_lip_pose_csv
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE, Sample
from humanparse.data.synth import SyntheticHumans, write_synthetic_dataset
from humanparse.schemas import LIP
from humanparse.schemas.lip import JOINTS16

SIZE = (128, 128)
CLS = {name: i for i, name in enumerate(LIP.classes)}
JOINT = {name: i for i, name in enumerate(JOINTS16)}
PERSON_CLASSES = [i for i, name in enumerate(LIP.classes) if name != "Background"]


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """A shared batch of small samples for the statistical tests."""
    generator = SyntheticHumans(size=SIZE, seed=11)
    return [generator.generate(i) for i in range(150)]


def _colour_codes(image: np.ndarray, bits: int = 4) -> np.ndarray:
    """Quantised RGB as one integer per pixel (``bits`` per channel)."""
    q = (image >> (8 - bits)).astype(np.int64)
    return (q[..., 0] << (2 * bits)) | (q[..., 1] << bits) | q[..., 2]


# -- determinism and shapes ----------------------------------------------------------


def test_same_seed_and_index_give_identical_samples():
    a = SyntheticHumans(size=SIZE, seed=3).generate(7)
    b = SyntheticHumans(size=SIZE, seed=3).generate(7)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.label, b.label)
    assert np.array_equal(a.keypoints, b.keypoints, equal_nan=True)
    assert a.meta["view"] == b.meta["view"] and a.id == b.id == "synth_000007"


def test_different_seed_or_index_give_different_samples():
    base = SyntheticHumans(size=SIZE, seed=3).generate(7)
    other_seed = SyntheticHumans(size=SIZE, seed=4).generate(7)
    other_index = SyntheticHumans(size=SIZE, seed=3).generate(8)
    for other in (other_seed, other_index):
        assert not np.array_equal(base.image, other.image)
        assert not np.array_equal(base.label, other.label)


def test_generation_does_not_depend_on_order():
    generator = SyntheticHumans(size=SIZE, seed=2)
    later = generator.generate(5)
    for i in range(5):
        generator.generate(i)
    assert np.array_equal(generator.generate(5).image, later.image)


@pytest.mark.parametrize("size", [(128, 128), (96, 160), (200, 72)])
def test_shapes_dtypes_and_label_values(size):
    generator = SyntheticHumans(size=size, seed=0)
    for i in range(4):
        s = generator.generate(i)
        assert s.image.shape == (*size, 3) and s.image.dtype == np.uint8
        assert s.label.shape == size and s.label.dtype == np.uint8
        assert s.keypoints.shape == (1, len(JOINTS16), 3) and s.keypoints.dtype == np.float32
        assert set(np.unique(s.label).tolist()) <= set(range(LIP.num_classes))
        assert (s.label != CLS["Background"]).any(), "every image shows some of its person"


def test_dataset_protocol():
    seen = []
    data = SyntheticHumans(size=SIZE, seed=1, length=3, transform=lambda s: seen.append(s.id) or s.id)
    assert len(data) == 3
    assert data[0] == "synth_000000" and data[-1] == "synth_000002"
    assert seen == ["synth_000000", "synth_000002"]
    with pytest.raises(IndexError):
        data[3]
    plain = SyntheticHumans(size=SIZE, seed=1, length=3)
    assert np.array_equal(plain[1].image, plain.generate(1).image)


def test_pickled_generator_makes_the_same_samples():
    generator = SyntheticHumans(size=SIZE, seed=6)
    copy = pickle.loads(pickle.dumps(generator))
    assert np.array_equal(copy.generate(2).image, generator.generate(2).image)


@pytest.mark.parametrize(
    "kwargs",
    [{"size": (32, 128)}, {"size": (128,)}, {"size": (128.5, 128)}, {"seed": -1}, {"length": -2},
     {"clutter": 1.5}, {"clutter": -0.1}, {"clutter": "low"}],
)
def test_generator_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SyntheticHumans(**{"size": SIZE, **kwargs})


def test_clutter_zero_removes_clutter_but_keeps_the_person():
    """The same seed and index draw the same person whatever the clutter; without clutter
    nothing stands in front of them."""
    full, plain = SyntheticHumans(size=SIZE, seed=5), SyntheticHumans(size=SIZE, seed=5, clutter=0.0)
    occluded = 0
    for i in range(40):
        a, b = full.generate(i), plain.generate(i)
        person = a.label > 0
        # Wherever the person shows in the busy scene, the plain scene has the same class.
        assert np.array_equal(b.label[person], a.label[person]), i
        occluded += int(((b.label > 0) & ~person).sum())
        assert np.array_equal(a.meta["joint_positions"], b.meta["joint_positions"])
    assert occluded > 0, "occluders in the busy scenes hide part of some people"


# -- keypoints -------------------------------------------------------------------------


def test_keypoint_flags_agree_with_positions(samples):
    height, width = SIZE
    flags_seen = set()
    for s in samples:
        kp = s.keypoints[0]
        full = s.meta["joint_positions"]
        assert full.shape == (len(JOINTS16), 2) and np.isfinite(full).all()
        inside = (
            (full[:, 0] >= -0.5)
            & (full[:, 0] < width - 0.5)
            & (full[:, 1] >= -0.5)
            & (full[:, 1] < height - 0.5)
        )
        flags = kp[:, 2]
        assert set(flags.tolist()) <= {MISSING, OCCLUDED, VISIBLE}
        # Missing exactly where the joint fell outside the image, with NaN coordinates.
        assert np.array_equal(flags == MISSING, ~inside)
        assert np.isnan(kp[~inside, :2]).all()
        np.testing.assert_allclose(kp[inside, :2], full[inside], atol=1e-4)
        flags_seen.update(flags.tolist())
    assert flags_seen == {MISSING, OCCLUDED, VISIBLE}, "truncation and occlusion both occur"


def test_visible_limb_joints_sit_on_their_own_side(samples):
    """A visible left wrist never lies on the right arm, and so on; occluded ones often do not lie on their limb."""
    opposite = {
        "l_wrist": ("Right-arm",),
        "l_elbow": ("Right-arm",),
        "r_wrist": ("Left-arm",),
        "r_elbow": ("Left-arm",),
        "l_ankle": ("Right-leg", "Right-shoe"),
        "l_knee": ("Right-leg", "Right-shoe"),
        "r_ankle": ("Left-leg", "Left-shoe"),
        "r_knee": ("Left-leg", "Left-shoe"),
    }
    on_person = total = 0
    for s in samples:
        kp = s.keypoints[0]
        for name, wrong in opposite.items():
            x, y, v = kp[JOINT[name]]
            if v != VISIBLE:
                continue
            value = s.label[int(round(y)), int(round(x))]
            assert value not in {CLS[w] for w in wrong}, (s.id, name)
            on_person += value != CLS["Background"]
            total += 1
    assert total > 300
    assert on_person / total > 0.97, "visible limb joints lie on the person, not on an occluder"


# -- views -----------------------------------------------------------------------------


def test_back_view_swaps_left_and_right_on_screen(samples):
    left_on_right = {"front": [], "back": []}
    for s in samples:
        kp = s.keypoints[0]
        shoulders = kp[[JOINT["l_shoulder"], JOINT["r_shoulder"]]]
        if (shoulders[:, 2] != MISSING).all():
            # The person's left shoulder is on the image's right exactly in front views.
            assert (shoulders[0, 0] > shoulders[1, 0]) == (s.meta["view"] == "front"), s.id
        xs = [np.nonzero(s.label == CLS[c])[1] for c in ("Left-arm", "Right-arm")]
        if min(len(x) for x in xs) >= 20:
            left_on_right[s.meta["view"]].append(xs[0].mean() > xs[1].mean())
    assert min(len(v) for v in left_on_right.values()) >= 20
    assert np.mean(left_on_right["front"]) > 0.85
    assert np.mean(left_on_right["back"]) < 0.15


def test_every_class_appears(samples):
    present = np.zeros(LIP.num_classes, dtype=bool)
    for s in samples[:80]:
        present[np.unique(s.label)] = True
    missing = [LIP.classes[i] for i in np.flatnonzero(~present)]
    assert not missing, f"classes never drawn: {missing}"


# -- non-triviality ----------------------------------------------------------------


def test_colour_alone_does_not_give_away_the_class(samples):
    """The best colour-to-class lookup learnt on some images is no better on others than
    always answering the most common person class."""
    train, test = samples[:100], samples[100:]
    counts = np.zeros((4096, LIP.num_classes), dtype=np.int64)
    for s in train:
        np.add.at(counts, (_colour_codes(s.image).ravel(), s.label.ravel()), 1)

    # Over all pixels: how well does the lookup find the person classes?
    lookup = counts.argmax(axis=1)
    confusion = np.zeros((LIP.num_classes, LIP.num_classes), dtype=np.int64)
    for s in test:
        np.add.at(confusion, (s.label.ravel(), lookup[_colour_codes(s.image)].ravel()), 1)
    tp = np.diag(confusion)
    iou = tp / np.maximum(confusion.sum(0) + confusion.sum(1) - tp, 1)
    assert iou[PERSON_CLASSES].mean() < 0.05

    # On person pixels only, against the structure-free rule "always the commonest class".
    person_lookup = np.array(PERSON_CLASSES)[counts[:, PERSON_CLASSES].argmax(axis=1)]
    hits = person_pixels = 0
    per_class = np.zeros(LIP.num_classes, dtype=np.int64)
    for s in test:
        on_person = s.label != CLS["Background"]
        hits += int((person_lookup[_colour_codes(s.image)][on_person] == s.label[on_person]).sum())
        person_pixels += int(on_person.sum())
        per_class += np.bincount(s.label[on_person], minlength=LIP.num_classes)
    constant_rule = per_class.max() / person_pixels
    assert hits / person_pixels < constant_rule

    # The same quantised colour is shared by many classes.
    classes_per_colour = (counts > 0).sum(axis=1)
    person_weight = counts[:, PERSON_CLASSES].sum(axis=1)
    assert (classes_per_colour * person_weight).sum() / person_weight.sum() > 5


def test_left_and_right_share_colour_statistics(samples):
    pairs = [
        (CLS[a], CLS[b])
        for a, b in (("Left-arm", "Right-arm"), ("Left-leg", "Right-leg"), ("Left-shoe", "Right-shoe"))
    ]
    train, test = samples[:100], samples[100:]
    # A colour lookup that tries to tell left from right.
    votes = np.zeros((4096, 2), dtype=np.int64)
    for s in train:
        codes = _colour_codes(s.image)
        for left, right in pairs:
            np.add.at(votes[:, 0], codes[s.label == left], 1)
            np.add.at(votes[:, 1], codes[s.label == right], 1)
    says_right = votes[:, 1] > votes[:, 0]
    correct = total = 0
    for s in test:
        codes = _colour_codes(s.image)
        for left, right in pairs:
            correct += int(
                (~says_right[codes[s.label == left]]).sum() + says_right[codes[s.label == right]].sum()
            )
            total += int((s.label == left).sum() + (s.label == right).sum())
    assert total > 5000
    assert abs(correct / total - 0.5) < 0.1

    # Per image, the mean colour of a left part minus its right partner averages out to
    # nothing next to how much those mean colours vary between images.
    differences, means = [], []
    for s in samples:
        for left, right in pairs:
            lm, rm = s.label == left, s.label == right
            if lm.sum() >= 15 and rm.sum() >= 15:
                a, b = s.image[lm].mean(axis=0), s.image[rm].mean(axis=0)
                differences.append(a - b)
                means += [a, b]
    differences, means = np.array(differences), np.array(means)
    assert len(differences) > 100
    assert (np.abs(differences.mean(axis=0)) < 0.1 * means.std(axis=0)).all()

    # Position alone does not tell them apart either: the person's left arm is on the
    # image's right about half the time (front views) and on its left otherwise.
    left_arm_right = [
        np.nonzero(s.label == CLS["Left-arm"])[1].mean() > np.nonzero(s.label == CLS["Right-arm"])[1].mean()
        for s in samples
        if (s.label == CLS["Left-arm"]).sum() >= 20 and (s.label == CLS["Right-arm"]).sum() >= 20
    ]
    assert 0.3 < np.mean(left_arm_right) < 0.7


# -- writing datasets ------------------------------------------------------------------


def test_write_synthetic_dataset_layout_and_contents(tmp_path):
    out = tmp_path / "synth"
    write_synthetic_dataset(out, 5, seed=4, size=(96, 112), val_fraction=0.4)
    generator = SyntheticHumans(size=(96, 112), seed=4)
    ids = {split: (out / f"{split}_id.txt").read_text().split() for split in ("train", "val")}
    assert ids == {"train": [f"synth_{i:06d}" for i in range(3)], "val": [f"synth_{i:06d}" for i in (3, 4)]}
    for split, stems in ids.items():
        poses = read_lip_pose_csv(out / f"lip_{split}_set.csv")
        assert list(poses) == [f"{stem}.jpg" for stem in stems]
        assert sorted(p.name for p in (out / f"{split}_images").iterdir()) == [
            f"{stem}.jpg" for stem in stems
        ]
        for stem in stems:
            expected = generator.generate(int(stem.split("_")[1]))
            image = read_image(out / f"{split}_images" / f"{stem}.jpg")
            assert image.shape == (96, 112, 3)
            assert np.abs(image.astype(float) - expected.image).mean() < 6  # JPEG at quality 95
            label_path = out / f"{split}_segmentations" / f"{stem}.png"
            assert np.array_equal(read_label(label_path, num_classes=LIP.num_classes), expected.label)
            with Image.open(label_path) as png:
                assert png.mode == "P"
                assert png.getpalette()[: 3 * LIP.num_classes] == LIP.flat_palette()[: 3 * LIP.num_classes]
            kp, want = poses[f"{stem}.jpg"], expected.keypoints[0]
            assert np.array_equal(kp[:, 2], want[:, 2])
            np.testing.assert_allclose(kp[:, :2], want[:, :2], atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["synth"], "no temporary folder left behind"


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"n": -3}, {"size": (16, 16)}, {"val_fraction": 1.0}, {"val_fraction": -0.1}, {"seed": -1}],
)
def test_write_synthetic_dataset_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_synthetic_dataset(tmp_path / "out", **{"n": 2, "size": (96, 96), **kwargs})
    assert not (tmp_path / "out").exists()


def test_write_synthetic_dataset_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not an empty folder"):
        write_synthetic_dataset(tmp_path / "out", 2, size=(96, 96))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_write_synthetic_dataset_leaves_nothing_on_failure(tmp_path, monkeypatch):
    real = SyntheticHumans.generate

    def failing(self, index):
        if index == 2:
            raise RuntimeError("disk full")
        return real(self, index)

    monkeypatch.setattr(SyntheticHumans, "generate", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_synthetic_dataset(tmp_path / "out", 4, size=(96, 96))
    assert list(tmp_path.iterdir()) == []


def test_cli_synth_writes_the_same_dataset(tmp_path):
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "cli"),
                "-n",
                "3",
                "--seed",
                "2",
                "--size",
                "80",
                "96",
                "--val-fraction",
                "0.34",
            ]
        )
        == 0
    )
    write_synthetic_dataset(tmp_path / "api", 3, seed=2, size=(80, 96), val_fraction=0.34)
    for name in (
        "train_id.txt",
        "val_id.txt",
        "lip_train_set.csv",
        "lip_val_set.csv",
        "val_segmentations/synth_000002.png",
    ):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes(), name
    assert (tmp_path / "cli" / "val_id.txt").read_text().split() == ["synth_000002"]
