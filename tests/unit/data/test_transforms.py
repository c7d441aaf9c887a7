"""The affine augmentation, its inverse, schema-driven flips and photometric jitter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from helpers import ATR_LEFT_SHOE, ATR_RIGHT_SHOE, LIP_LEFT_ARM, LIP_PANTS, LIP_RIGHT_ARM, blob_label
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE, Sample, missing_keypoints
from humanparse.data.transforms import (
    AffineParams,
    EvalTransform,
    PhotometricJitter,
    RandomAffine,
    TrainTransform,
    affine_matrix,
    flip_heatmaps,
    flip_logits,
    warp_back,
    warp_back_points,
    warp_sample,
)
from humanparse.schemas import ATR, COCO_JOINTS, LIP, LIP_JOINTS, PASCAL_PERSON_PART

# Joint indices as MPII defines them.
MPII_R_SHOULDER, MPII_L_SHOULDER = 12, 13


def interior(label: np.ndarray, margin: float) -> np.ndarray:
    """Pixels farther than ``margin`` from any other label and from the image border."""
    dist = np.zeros(label.shape)
    for c in np.unique(label):
        padded = np.pad(label == c, 1)  # the padding stands for "outside the image"
        dist = np.where(label == c, ndimage.distance_transform_edt(padded)[1:-1, 1:-1], dist)
    return dist > margin


def swap_lut(schema, pairs: list[tuple[str, str]]) -> np.ndarray:
    """A label lookup table built from class names, independent of the code under test."""
    lut = np.arange(256, dtype=np.uint8)
    for a, b in pairs:
        ia, ib = schema.classes.index(a), schema.classes.index(b)
        lut[ia], lut[ib] = ib, ia
    return lut


def map_points(matrix: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2],
        matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2],
    )


# --------------------------------------------------------------------------- matrices


def test_default_matrix_is_identity_and_flip_maps_x_to_w_minus_1_minus_x() -> None:
    assert np.allclose(affine_matrix((30, 20), (30, 20)), [[1, 0, 0], [0, 1, 0]])
    flip = affine_matrix((30, 20), (30, 20), AffineParams(flip=True))
    assert np.allclose(flip, [[-1, 0, 19], [0, 1, 0]])


def test_matrix_letterboxes_keeping_aspect_ratio() -> None:
    # A 100 x 50 (H x W) image into 64 x 64: height limits the zoom to 0.64, centred.
    m = affine_matrix((100, 50), (64, 64))
    assert np.allclose(m[:, :2], 0.64 * np.eye(2))
    # The outer pixel edges of the image land on the output's top and bottom edges.
    assert np.allclose(map_points(m, np.array([-0.5, 49.5]), np.array([-0.5, 99.5]))[1], [-0.5, 63.5])
    assert np.allclose(map_points(m, np.array([24.5]), np.array([49.5])), [[31.5], [31.5]])


def test_rotation_is_counter_clockwise_on_screen() -> None:
    m = affine_matrix((41, 41), (41, 41), AffineParams(rotation=90))
    # A point right of the centre moves up (smaller y).
    x, y = map_points(m, np.array([30.0]), np.array([20.0]))
    assert np.allclose([x[0], y[0]], [20.0, 10.0])


def test_random_affine_respects_ranges_and_seed() -> None:
    sampler = RandomAffine(scale=(1.0, 1.5), rotation=10, translation=0.1, flip_prob=0.5)
    draws = [sampler.sample(np.random.default_rng(i)) for i in range(50)]
    assert all(1.0 <= p.scale <= 1.5 and abs(p.rotation) <= 10 for p in draws)
    assert all(abs(t) <= 0.1 for p in draws for t in p.translation)
    assert {p.flip for p in draws} == {True, False}
    assert sampler.sample(np.random.default_rng(7)) == sampler.sample(np.random.default_rng(7))
    with pytest.raises(ValueError, match="scale"):
        RandomAffine(scale=(1.5, 1.0))


# --------------------------------------------------------------------------- forward and back


@pytest.mark.parametrize("seed", range(6))
def test_warp_then_warp_back_recovers_labels_away_from_boundaries(seed: int) -> None:
    rng = np.random.default_rng(seed)
    orig_size, out_size = (70, 50), (64, 48)
    label = blob_label(rng, orig_size, [5, 13, LIP_LEFT_ARM, LIP_RIGHT_ARM, 16, 19])
    sample = Sample(image=rng.integers(0, 256, (*orig_size, 3), dtype=np.uint8), label=label)
    params = AffineParams(
        scale=float(rng.uniform(1.0, 1.5)),
        rotation=float(rng.uniform(-30, 30)),
        translation=(float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1))),
        flip=seed % 2 == 0,
    )
    warped = warp_sample(sample, affine_matrix(orig_size, out_size, params), out_size, LIP)
    assert warped.size == out_size
    assert warped.meta["flipped"] == params.flip
    assert warped.meta["orig_size"] == orig_size

    back = warp_back(warped.label, warped.meta["affine"], warped.meta["orig_size"], LIP)
    assert back.shape == orig_size and back.dtype == np.uint8

    # Where each original pixel lands in the crop, computed here from the stored matrix.
    ys, xs = np.mgrid[0 : orig_size[0], 0 : orig_size[1]].astype(float)
    cx, cy = map_points(warped.meta["affine"], xs, ys)
    h, w = out_size
    well_inside = (cx > 1.5) & (cx < w - 2.5) & (cy > 1.5) & (cy < h - 2.5)
    well_outside = (cx < -2.5) | (cx > w + 1.5) | (cy < -2.5) | (cy > h + 1.5)
    compared = interior(label, 2) & well_inside
    assert compared.mean() > 0.2
    np.testing.assert_array_equal(back[compared], label[compared])
    assert (back[well_outside] == 255).all()

    # The score path: one-hot crop scores warped back bilinearly give the same argmax.
    onehot = np.stack([(warped.label == c) for c in range(LIP.num_classes)]).astype(np.float32)
    for scores in (onehot, torch.from_numpy(onehot)):
        restored = np.asarray(warp_back(scores, warped.meta["affine"], orig_size, LIP))
        assert restored.shape == (LIP.num_classes, *orig_size)
        safe = interior(label, 3) & well_inside
        np.testing.assert_array_equal(restored.argmax(0)[safe], label[safe])


def test_flipping_twice_is_the_identity() -> None:
    rng = np.random.default_rng(0)
    size = (21, 17)
    keypoints = rng.uniform(0, 16, (2, 16, 3)).astype(np.float32)
    keypoints[..., 2] = rng.choice([MISSING, OCCLUDED, VISIBLE], (2, 16))
    keypoints[keypoints[..., 2] == MISSING, :2] = np.nan
    sample = Sample(
        image=rng.integers(0, 256, (*size, 3), dtype=np.uint8),
        label=rng.integers(0, 20, size, dtype=np.uint8),
        keypoints=keypoints,
        meta={"id": "x"},
    )
    flip = affine_matrix(size, size, AffineParams(flip=True))
    once = warp_sample(sample, flip, size, LIP, LIP_JOINTS)
    # One flip mirrors pixels exactly (bilinear at integer positions) and swaps classes by name.
    np.testing.assert_array_equal(once.image, sample.image[:, ::-1])
    lut = swap_lut(LIP, [("Left-arm", "Right-arm"), ("Left-leg", "Right-leg"), ("Left-shoe", "Right-shoe")])
    np.testing.assert_array_equal(once.label, lut[sample.label[:, ::-1]])
    assert once.meta["flipped"] and once.meta["id"] == "x"

    twice = warp_sample(once, flip, size, LIP, LIP_JOINTS)
    np.testing.assert_array_equal(twice.image, sample.image)
    np.testing.assert_array_equal(twice.label, sample.label)
    # Coordinates are float32, so W-1-(W-1-x) may differ from x in the last bit.
    np.testing.assert_allclose(twice.keypoints, sample.keypoints, rtol=0, atol=1e-5, equal_nan=True)
    assert np.allclose(twice.meta["affine"], [[1, 0, 0], [0, 1, 0]])
    assert twice.meta["flipped"] is False
    assert "affine" not in sample.meta  # the input's meta is not modified


def test_flipped_lip_left_arm_becomes_right_arm_and_left_shoulder_right_shoulder() -> None:
    h, w = 10, 20
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[4, 3] = (255, 0, 0)  # marks the pixel where the joint sits
    label = np.zeros((h, w), dtype=np.uint8)
    label[3:6, 2:5] = LIP_LEFT_ARM
    keypoints = missing_keypoints(1, 16)
    keypoints[0, MPII_L_SHOULDER] = (3.0, 4.0, VISIBLE)
    sample = Sample(image=image, label=label, keypoints=keypoints)

    out = warp_sample(sample, affine_matrix((h, w), (h, w), AffineParams(flip=True)), (h, w), LIP, LIP_JOINTS)

    # Columns 2..4 mirror to w-1-4 .. w-1-2 = 15..17, and the arm is now a right arm.
    assert (out.label[3:6, 15:18] == LIP_RIGHT_ARM).all()
    assert not (out.label == LIP_LEFT_ARM).any()
    assert (out.label == LIP_RIGHT_ARM).sum() == 9
    # The joint moves to x = w-1-3 = 16 and becomes the right shoulder; its pixel moves with it.
    assert tuple(out.keypoints[0, MPII_R_SHOULDER]) == (16.0, 4.0, VISIBLE)
    assert out.keypoints[0, MPII_L_SHOULDER, 2] == MISSING
    assert tuple(out.image[4, 16]) == (255, 0, 0)


def test_joints_that_leave_the_crop_become_missing() -> None:
    keypoints = missing_keypoints(1, 16)
    keypoints[0, 0] = (5.0, 5.0, VISIBLE)  # -> (-9.5, -9.5): outside
    keypoints[0, 1] = (15.0, 22.0, VISIBLE)  # -> (10.5, 24.5)
    keypoints[0, 2] = (20.0, 20.0, OCCLUDED)  # -> (20.5, 20.5), still occluded
    keypoints[0, 3] = (39.0, 19.5, VISIBLE)  # -> (58.5, 19.5): outside
    sample = Sample(image=np.zeros((40, 40, 3), np.uint8), keypoints=keypoints)
    out = warp_sample(sample, affine_matrix((40, 40), (40, 40), AffineParams(scale=2)), (40, 40))
    kp = out.keypoints[0]
    for j in (0, 3):
        assert kp[j, 2] == MISSING and np.isnan(kp[j, :2]).all()
    np.testing.assert_allclose(kp[1], (10.5, 24.5, VISIBLE))
    np.testing.assert_allclose(kp[2], (20.5, 20.5, OCCLUDED))
    assert (kp[4:, 2] == MISSING).all() and np.isnan(kp[4:, :2]).all()


def test_labels_from_outside_the_image_are_ignore() -> None:
    label = np.where(np.arange(40)[None, :] % 2 == 0, 1, 2).astype(np.uint8).repeat(40, axis=0)
    sample = Sample(image=np.zeros((40, 40, 3), np.uint8), label=label)
    # Zoom 0.5: the image covers pixel centres 10..29 of the output.
    out = warp_sample(sample, affine_matrix((40, 40), (40, 40), AffineParams(scale=0.5)), (40, 40))
    assert (out.label[:, :10] == 255).all() and (out.label[:, 30:] == 255).all()
    assert (out.label[:10] == 255).all() and (out.label[30:] == 255).all()
    assert np.isin(out.label[10:30, 10:30], [1, 2]).all()
    # A 45 degree rotation brings the corners in from outside.
    rotated = warp_sample(sample, affine_matrix((40, 40), (40, 40), AffineParams(rotation=45)), (40, 40))
    assert rotated.label[0, 0] == rotated.label[39, 39] == 255
    assert rotated.label[20, 20] != 255


def test_image_is_bilinear_and_labels_are_nearest() -> None:
    rng = np.random.default_rng(3)
    label = blob_label(rng, (60, 60), [3, 7, 3, 7])
    image = np.repeat((label * 30)[:, :, None], 3, axis=2).astype(np.uint8)
    m = affine_matrix((60, 60), (50, 50), AffineParams(scale=1.3, rotation=17))
    out = warp_sample(Sample(image=image, label=label), m, (50, 50), fill=(0, 0, 0))
    assert set(np.unique(out.label)) <= {0, 3, 7, 255}
    # Bilinear blending invents grey levels between 0, 90 and 210 along edges.
    assert len(set(np.unique(out.image)) - {0, 90, 210}) > 5


def test_mirroring_without_a_schema_is_refused() -> None:
    sample = Sample(image=np.zeros((8, 8, 3), np.uint8), label=np.zeros((8, 8), np.uint8))
    flip = affine_matrix((8, 8), (8, 8), AffineParams(flip=True))
    with pytest.raises(ValueError, match="schema"):
        warp_sample(sample, flip, (8, 8))
    with pytest.raises(ValueError, match="schema"):
        warp_back(np.zeros((20, 8, 8), np.float32), flip, (8, 8))
    with pytest.raises(ValueError, match="channels"):
        warp_back(np.zeros((5, 8, 8), np.float32), flip, (8, 8), LIP)
    with pytest.raises(ValueError, match="2x3"):
        warp_back(np.zeros((8, 8), np.uint8), np.eye(3), (8, 8))


# --------------------------------------------------------------------------- torch and numpy


@pytest.mark.parametrize("flip", [False, True])
def test_warp_back_torch_matches_numpy(flip: bool) -> None:
    rng = np.random.default_rng(11)
    coarse = rng.normal(size=(6, 8, LIP.num_classes)).astype(np.float32)
    import cv2

    logits = np.moveaxis(cv2.resize(coarse, (40, 48), interpolation=cv2.INTER_CUBIC), -1, 0)
    params = AffineParams(scale=1.2, rotation=-13.0, translation=(0.05, -0.03), flip=flip)
    m = affine_matrix((70, 50), (48, 40), params)

    expected = warp_back(logits, m, (70, 50), LIP)
    got = warp_back(torch.from_numpy(logits), m, (70, 50), LIP)
    assert isinstance(got, torch.Tensor) and got.shape == (LIP.num_classes, 70, 50)
    # cv2 quantises sampling positions to 1/32 pixel and grid_sample does not, so the two
    # differ by at most the steepest change over 1/32 pixel (from a value to the zero fill).
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=np.abs(logits).max() / 32)
    # On average far closer: a sampling offset of even 0.1 pixel would give about 0.02 here.
    assert np.abs(got.numpy() - expected).mean() < 5e-3
    assert np.abs(expected).max() > 0.5  # the comparison is not between two empty maps

    # Original pixels that the crop never saw get the fill value on both paths.
    corner_np = warp_back(logits, m, (70, 50), LIP, fill=-5.0)[:, 0, 0]
    corner_torch = warp_back(torch.from_numpy(logits), m, (70, 50), LIP, fill=-5.0)[:, 0, 0]
    assert (corner_np == -5.0).all() and (corner_torch == -5.0).all()

    labels = logits.argmax(0).astype(np.uint8)
    expected_labels = warp_back(labels, m, (70, 50), LIP)
    got_labels = warp_back(torch.from_numpy(labels), m, (70, 50), LIP)
    assert got_labels.dtype == torch.uint8
    assert (got_labels.numpy() == expected_labels).mean() > 0.999
    assert (expected_labels == 255).any() and (expected_labels != 255).any()


def test_warp_back_points_inverts_the_keypoint_warp() -> None:
    keypoints = np.array([[[15.0, 20.0, VISIBLE], [30.0, 50.0, VISIBLE]]], dtype=np.float32)
    sample = Sample(image=np.zeros((70, 50, 3), np.uint8), keypoints=keypoints)
    m = affine_matrix((70, 50), (64, 48), AffineParams(scale=1.1, rotation=20))
    out = warp_sample(sample, m, (64, 48))
    assert (out.keypoints[..., 2] == VISIBLE).all()
    np.testing.assert_allclose(warp_back_points(out.keypoints[..., :2], out.meta["affine"]), keypoints[..., :2], atol=1e-4)


# --------------------------------------------------------------------------- other schemas


def test_flip_follows_each_schema_not_lip_indices() -> None:
    label = np.zeros((12, 12), dtype=np.uint8)
    label[2:5, 1:4] = 9  # ATR: Left-shoe; LIP: Pants (no partner)
    sample = Sample(image=np.zeros((12, 12, 3), np.uint8), label=label)
    flip = affine_matrix((12, 12), (12, 12), AffineParams(flip=True))
    atr = warp_sample(sample, flip, (12, 12), ATR).label
    lip = warp_sample(sample, flip, (12, 12), LIP).label
    assert ATR.classes[ATR_LEFT_SHOE] == "Left-shoe" and LIP.classes[LIP_PANTS] == "Pants"
    assert (atr[2:5, 8:11] == ATR_RIGHT_SHOE).all()
    assert (lip[2:5, 8:11] == LIP_PANTS).all()

    # PASCAL-Person-Part has no pairs: a flip only mirrors positions.
    parts = np.random.default_rng(0).integers(0, 7, (12, 12), dtype=np.uint8)
    pascal = warp_sample(Sample(image=np.zeros((12, 12, 3), np.uint8), label=parts), flip, (12, 12), PASCAL_PERSON_PART)
    np.testing.assert_array_equal(pascal.label, parts[:, ::-1])

    # COCO joints swap by their own pairs.
    left_wrist, right_wrist = COCO_JOINTS.joints.index("left_wrist"), COCO_JOINTS.joints.index("right_wrist")
    kp = missing_keypoints(1, 17)
    kp[0, left_wrist] = (2.0, 3.0, VISIBLE)
    coco = warp_sample(Sample(image=np.zeros((12, 12, 3), np.uint8), keypoints=kp), flip, (12, 12), joint_schema=COCO_JOINTS)
    assert tuple(coco.keypoints[0, right_wrist]) == (9.0, 3.0, VISIBLE)
    assert coco.keypoints[0, left_wrist, 2] == MISSING


def test_flip_logits_and_heatmaps_swap_channels_by_schema() -> None:
    logits = torch.randn(2, LIP.num_classes, 6, 8)
    flipped = flip_logits(logits, LIP)
    assert torch.equal(flipped[:, LIP_RIGHT_ARM], logits[:, LIP_LEFT_ARM].flip(-1))
    assert torch.equal(flipped[:, LIP_PANTS], logits[:, LIP_PANTS].flip(-1))
    assert torch.equal(flip_logits(flipped, LIP), logits)

    parts = torch.randn(1, PASCAL_PERSON_PART.num_classes, 5, 5)
    assert torch.equal(flip_logits(parts, PASCAL_PERSON_PART), parts.flip(-1))

    heatmaps = torch.randn(1, 17, 4, 6)
    left, right = COCO_JOINTS.joints.index("left_knee"), COCO_JOINTS.joints.index("right_knee")
    hm = flip_heatmaps(heatmaps, COCO_JOINTS)
    assert torch.equal(hm[:, right], heatmaps[:, left].flip(-1))
    mpii = torch.randn(1, 16, 4, 4)
    assert torch.equal(flip_heatmaps(mpii, LIP_JOINTS)[:, MPII_R_SHOULDER], mpii[:, MPII_L_SHOULDER].flip(-1))
    with pytest.raises(ValueError, match="channels"):
        flip_logits(torch.randn(1, 7, 4, 4), LIP)


# --------------------------------------------------------------------------- transforms


def _jitter_sample() -> Sample:
    rng = np.random.default_rng(5)
    keypoints = missing_keypoints(1, 16)
    keypoints[0, 3] = (10.0, 12.0, VISIBLE)
    return Sample(
        image=rng.integers(0, 256, (32, 24, 3), dtype=np.uint8),
        label=rng.integers(0, 20, (32, 24), dtype=np.uint8),
        keypoints=keypoints,
    )


def test_photometric_jitter_changes_only_the_image_and_is_seeded() -> None:
    sample = _jitter_sample()
    original_image = sample.image.copy()
    no_geometry = RandomAffine(scale=(1.0, 1.0), rotation=0, translation=0, flip_prob=0)
    jitter = PhotometricJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, noise_std=3, blur_prob=0.5)

    def run(seed: int) -> Sample:
        return TrainTransform((32, 24), LIP, LIP_JOINTS, affine=no_geometry, jitter=jitter, seed=seed)(sample)

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a.label, sample.label)
    np.testing.assert_array_equal(a.keypoints, sample.keypoints)
    assert not np.array_equal(a.image, sample.image)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    np.testing.assert_array_equal(sample.image, original_image)


def test_train_transform_is_seeded_and_keeps_meta_for_warp_back() -> None:
    sample = _jitter_sample()
    first = TrainTransform((24, 20), LIP, LIP_JOINTS, seed=0)
    second = TrainTransform((24, 20), LIP, LIP_JOINTS, seed=0)
    outs = [first(sample) for _ in range(12)]
    for out, again in zip(outs, (second(sample) for _ in range(12))):
        np.testing.assert_array_equal(out.image, again.image)
        np.testing.assert_array_equal(out.label, again.label)
        assert np.array_equal(out.meta["affine"], again.meta["affine"])
    assert {o.meta["flipped"] for o in outs} == {True, False}
    assert all(o.size == (24, 20) and o.meta["orig_size"] == (32, 24) for o in outs)
    # A per-call generator overrides the transform's own.
    np.testing.assert_array_equal(
        first(sample, np.random.default_rng(9)).image, second(sample, np.random.default_rng(9)).image
    )


def test_eval_transform_letterboxes_and_warp_back_restores_the_label() -> None:
    rng = np.random.default_rng(2)
    label = blob_label(rng, (30, 20), [1, LIP_LEFT_ARM, LIP_RIGHT_ARM])
    keypoints = missing_keypoints(1, 16)
    keypoints[0, 0] = (4.0, 25.0, VISIBLE)
    sample = Sample(image=rng.integers(0, 256, (30, 20, 3), dtype=np.uint8), label=label, keypoints=keypoints)
    transform = EvalTransform((64, 64), fill=(1, 2, 3))
    out = transform(sample)
    assert out.size == (64, 64) and out.meta["flipped"] is False
    # Height fits 64 rows; the 20 * 64 / 30 = 42.7 columns of content are centred, the rest padded.
    assert (out.label[:, :10] == 255).all() and (out.label[:, -10:] == 255).all()
    assert tuple(out.image[32, 0]) == (1, 2, 3)
    assert out.meta["orig_label"] is label
    np.testing.assert_array_equal(transform(sample).image, out.image)
    # Upsampled by more than sqrt(2), nearest there and back is exact everywhere.
    np.testing.assert_array_equal(warp_back(out.label, out.meta["affine"], out.meta["orig_size"]), label)
    np.testing.assert_allclose(warp_back_points(out.keypoints[0, :1, :2], out.meta["affine"]), [[4.0, 25.0]], atol=1e-4)


def test_both_transforms_take_an_rng_so_the_dataset_calls_them_alike() -> None:
    from humanparse.engine.data import HumanDataset

    sample = _jitter_sample()
    train = TrainTransform((24, 20), LIP, LIP_JOINTS)
    # Training items draw their augmentation from (seed, epoch, index).
    item = HumanDataset([sample], [0], train, seed=3)[(5, 0)]
    np.testing.assert_array_equal(item.image, train(sample, np.random.default_rng([3, 5, 0])).image)
    # Evaluation ignores the rng: every call gives the same letterbox.
    evaluation = EvalTransform((24, 20))
    np.testing.assert_array_equal(HumanDataset([sample], [0], evaluation)[0].image, evaluation(sample).image)
    np.testing.assert_array_equal(evaluation(sample, np.random.default_rng(1)).image, evaluation(sample).image)


def test_real_lip_label_survives_a_flipped_rotated_round_trip(shared_data) -> None:
    from humanparse.data.image_io import read_image, read_label

    folder = shared_data / "lip_cihp_samples" / "lip"
    label = read_label(folder / "labels" / "36_453991.png", num_classes=LIP.num_classes)
    sample = Sample(image=read_image(folder / "images" / "36_453991.jpg"), label=label)
    assert {LIP_LEFT_ARM, LIP_RIGHT_ARM} <= set(np.unique(label))
    out_size = (256, 192)
    params = AffineParams(scale=1.1, rotation=-20, flip=True)
    warped = warp_sample(sample, affine_matrix(sample.size, out_size, params), out_size, LIP)
    back = warp_back(torch.from_numpy(warped.label), warped.meta["affine"], sample.size, LIP).numpy()
    ys, xs = np.mgrid[0 : sample.size[0], 0 : sample.size[1]].astype(float)
    cx, cy = map_points(warped.meta["affine"], xs, ys)
    compared = interior(label, 2) & (cx > 1.5) & (cx < out_size[1] - 2.5) & (cy > 1.5) & (cy < out_size[0] - 2.5)
    assert (compared & (label == LIP_LEFT_ARM)).sum() > 1000 and (compared & (label == LIP_RIGHT_ARM)).sum() > 1000
    np.testing.assert_array_equal(back[compared], label[compared])


def test_warp_back_rows_are_those_rows_of_the_whole_result() -> None:
    matrix = affine_matrix((37, 53), (16, 16))
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 5, (16, 16)).astype(np.uint8)
    for pred in (scores, torch.from_numpy(scores), labels, torch.from_numpy(labels)):
        whole = warp_back(pred, matrix, (37, 53))
        band = warp_back(pred, matrix, (37, 53), rows=(11, 20))
        expected = whole[..., 11:20, :]
        if isinstance(pred, np.ndarray) and pred.ndim == 3:  # cv2 reads a shifted matrix in fixed point
            np.testing.assert_allclose(band, expected, atol=1e-3)
        else:
            np.testing.assert_array_equal(np.asarray(band), np.asarray(expected))
    with pytest.raises(ValueError, match="rows"):
        warp_back(scores, matrix, (37, 53), rows=(20, 11))
