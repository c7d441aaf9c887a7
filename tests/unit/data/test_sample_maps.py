"""Extra per-pixel maps on a Sample: validation, the one-matrix warp, schema flips, collate, warp back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import ATR_LEFT_SHOE, ATR_RIGHT_SHOE, LIP_LEFT_ARM, LIP_PANTS, LIP_RIGHT_ARM, blob_label
from humanparse.data.sample import MapSpec, Sample, collate, missing_keypoints
from humanparse.data.transforms import (
    AffineParams,
    EvalTransform,
    PhotometricJitter,
    RandomAffine,
    TrainTransform,
    affine_matrix,
    warp_back_map,
    warp_sample,
)
from humanparse.schemas import ATR, LIP, LIP_JOINTS

PRIOR = MapSpec("continuous", class_indexed=True)
CONFIDENCE = MapSpec("continuous")
NOISE = MapSpec("mask")


def smooth_image(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """An RGB image of gentle gradients and a little noise, so bilinear rounding stays small."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    base = np.stack([xs * 200 / w, ys * 200 / h, (xs + ys) * 100 / (h + w)], axis=-1)
    return np.clip(base + rng.uniform(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


def one_hot(label: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, H, W) float32; ignore pixels (255) are zero in every channel."""
    return (label[None] == np.arange(num_classes)[:, None, None]).astype(np.float32)


def rotated(src: tuple[int, int], out: tuple[int, int], flip: bool = False) -> np.ndarray:
    return affine_matrix(src, out, AffineParams(scale=1.2, rotation=17.0, translation=(0.05, -0.03), flip=flip))


# --------------------------------------------------------------------------- validation


def test_a_sample_refuses_maps_that_do_not_match_their_spec() -> None:
    image = np.zeros((8, 6, 3), dtype=np.uint8)
    Sample(image, maps={"noise": np.zeros((8, 6), bool)}, map_specs={"noise": NOISE})
    bad = [
        ({"noise": np.zeros((8, 6), bool)}, {}),  # no spec
        ({"noise": np.zeros((8, 6), np.float32)}, {"noise": NOISE}),  # a float mask
        ({"conf": np.zeros((8, 6), np.uint8)}, {"conf": CONFIDENCE}),  # an integer continuous map
        ({"prior": np.zeros((8, 6), np.float32)}, {"prior": PRIOR}),  # class-indexed needs channels
        ({"conf": np.zeros((8, 5), np.float32)}, {"conf": CONFIDENCE}),  # not the image's size
        ({"noise": np.zeros((8, 6), bool)}, {"noise": MapSpec("mask", fill=3)}),  # bool mask, fill 3
    ]
    for maps, specs in bad:
        with pytest.raises(ValueError):
            Sample(image, maps=maps, map_specs=specs)
    with pytest.raises(ValueError):
        MapSpec("probabilities")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MapSpec("mask", fill=0.5)


# --------------------------------------------------------------------------- warp


def test_a_continuous_map_moves_exactly_as_the_image() -> None:
    rng = np.random.default_rng(0)
    image = smooth_image(rng, (40, 30))
    probabilities = np.moveaxis(image, -1, 0).astype(np.float32) / 255  # the image's channels as a map
    sample = Sample(image, maps={"p": probabilities}, map_specs={"p": MapSpec("continuous")})
    for flip in (False, True):
        out = warp_sample(sample, rotated((40, 30), (36, 28), flip), (36, 28), fill=(0, 0, 0))
        assert out.maps["p"].dtype == np.float32 and out.maps["p"].shape == (3, 36, 28)
        # cv2 rounds the uint8 image to whole levels; the float map keeps the fraction.
        difference = np.abs(np.moveaxis(out.maps["p"], 0, -1) * 255 - out.image)
        assert difference.max() <= 1.0
        assert (out.maps["p"][:, out.image.sum(-1) == 0] < 2 / 255).all()  # filled with 0 outside


def test_train_transform_warps_maps_with_the_matrix_it_keeps_and_jitter_leaves_them() -> None:
    rng = np.random.default_rng(1)
    image = smooth_image(rng, (40, 30))
    label = blob_label(rng, (40, 30), [LIP_LEFT_ARM, LIP_RIGHT_ARM, LIP_PANTS])
    sample = Sample(
        image, label, maps={"prior": one_hot(label, 20), "noise": label == LIP_PANTS},
        map_specs={"prior": PRIOR, "noise": NOISE},
    )
    transform = TrainTransform(
        (32, 24), LIP, affine=RandomAffine(translation=0.1, flip_prob=0.5),
        jitter=PhotometricJitter(noise_std=5, blur_prob=1.0), seed=4,
    )
    flipped = set()
    for _ in range(6):
        out = transform(sample)
        flipped.add(out.meta["flipped"])
        again = warp_sample(sample, out.meta["affine"], (32, 24), LIP)
        for name in ("prior", "noise"):
            np.testing.assert_array_equal(out.maps[name], again.maps[name])
        # The mask is the label's pants region, resampled by the same nearest neighbour.
        np.testing.assert_array_equal(out.maps["noise"], out.label == LIP_PANTS)
        # Where all four bilinear neighbours share a class, the prior's peak is the label.
        solid = out.maps["prior"].max(0) > 0.999
        assert solid.mean() > 0.5
        np.testing.assert_array_equal(out.maps["prior"].argmax(0)[solid], out.label[solid])
    assert flipped == {False, True}


@pytest.mark.parametrize(
    "schema, left, right", [(LIP, LIP_LEFT_ARM, LIP_RIGHT_ARM), (ATR, ATR_LEFT_SHOE, ATR_RIGHT_SHOE)]
)
def test_a_flip_swaps_class_channels_by_the_schema(schema, left: int, right: int) -> None:
    rng = np.random.default_rng(2)
    label = np.zeros((20, 16), dtype=np.uint8)
    label[4:12, 1:5] = left  # on the image's left side
    label[14:18, 10:15] = right
    prior = one_hot(label, schema.num_classes)
    free = prior.copy()  # the same channels, not tied to the schema
    sample = Sample(
        rng.integers(0, 256, (20, 16, 3), dtype=np.uint8), label,
        maps={"prior": prior, "free": free}, map_specs={"prior": PRIOR, "free": CONFIDENCE},
    )
    out = warp_sample(sample, affine_matrix((20, 16), (20, 16), AffineParams(flip=True)), (20, 16), schema)
    # The left class drawn on the left becomes the right class drawn on the right.
    assert (out.label[4:12, 11:15] == right).all()
    np.testing.assert_array_equal(out.maps["prior"], one_hot(out.label, schema.num_classes))
    assert out.maps["prior"][right, 4:12, 11:15].all() and not out.maps["prior"][left, 4:12, 11:15].any()
    # A map that is not class-indexed is only mirrored.
    np.testing.assert_array_equal(out.maps["free"], free[:, :, ::-1])


def test_a_mirrored_class_indexed_map_needs_a_matching_label_schema() -> None:
    image = np.zeros((8, 6, 3), dtype=np.uint8)
    flip = affine_matrix((8, 6), (8, 6), AffineParams(flip=True))
    sample = Sample(image, maps={"prior": np.zeros((20, 8, 6), np.float32)}, map_specs={"prior": PRIOR})
    with pytest.raises(ValueError, match="schema"):
        warp_sample(sample, flip, (8, 6))
    with pytest.raises(ValueError, match="class-indexed"):
        warp_sample(sample, flip, (8, 6), ATR)  # ATR has 18 classes
    warp_sample(sample, affine_matrix((8, 6), (8, 6)), (8, 6))  # no mirror, no schema needed


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8])
def test_a_mask_stays_binary_and_keeps_its_dtype(dtype) -> None:
    rng = np.random.default_rng(3)
    mask = (rng.random((30, 22)) < 0.3).astype(dtype)
    spec = MapSpec("mask", fill=1)
    sample = Sample(rng.integers(0, 256, (30, 22, 3), dtype=np.uint8), maps={"m": mask}, map_specs={"m": spec})
    out = warp_sample(sample, rotated((30, 22), (40, 40)), (40, 40))
    assert out.maps["m"].dtype == dtype and out.maps["m"].shape == (40, 40)
    assert set(np.unique(out.maps["m"]).tolist()) == {0, 1}
    assert out.maps["m"][0, 0] == 1  # the corner lies outside the rotated image: the fill


def test_a_nonzero_fill_reaches_every_channel() -> None:
    sample = Sample(
        np.zeros((10, 10, 3), dtype=np.uint8),
        maps={"c": np.ones((6, 10, 10), np.float32), "m": np.full((7, 10, 10), 3, np.uint8)},
        map_specs={"c": MapSpec("continuous", fill=-1.0), "m": MapSpec("mask", fill=9)},
    )
    out = warp_sample(sample, affine_matrix((10, 10), (10, 20)), (10, 20))  # letterboxed: 5 columns padded per side
    assert (out.maps["c"][:, :, :4] == -1).all() and (out.maps["c"][:, :, 6:14] == 1).all()
    assert (out.maps["m"][:, :, :4] == 9).all() and (out.maps["m"][:, :, 6:14] == 3).all()


# --------------------------------------------------------------------------- without maps


def test_without_maps_the_seeded_train_transform_gives_the_same_bits() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    label = rng.integers(0, 20, (40, 30), dtype=np.uint8)
    keypoints = missing_keypoints(1, 16)
    keypoints[0, :, :2] = rng.uniform(0, 30, (16, 2))
    keypoints[0, :, 2] = 2
    plain = Sample(image, label, keypoints)
    with_maps = Sample(
        image, label, keypoints,
        maps={"prior": one_hot(label, 20), "noise": label == 3}, map_specs={"prior": PRIOR, "noise": NOISE},
    )
    kwargs = dict(affine=RandomAffine(translation=0.1), jitter=PhotometricJitter(noise_std=3, blur_prob=0.5))
    first = TrainTransform((32, 24), LIP, LIP_JOINTS, seed=7, **kwargs)  # type: ignore[arg-type]
    second = TrainTransform((32, 24), LIP, LIP_JOINTS, seed=7, **kwargs)  # type: ignore[arg-type]
    for _ in range(8):
        a, b = first(plain), second(with_maps)
        assert a.maps == {} and a.map_specs == {}
        for x, y in ((a.image, b.image), (a.label, b.label), (a.keypoints, b.keypoints)):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
        assert a.meta["affine"].tobytes() == b.meta["affine"].tobytes()
    assert set(collate([a, a])) == {"image", "label", "keypoints", "meta"}


# --------------------------------------------------------------------------- collate


def test_collate_stacks_maps_in_their_own_compact_dtypes() -> None:
    def sample(seed: int, **extra: np.ndarray) -> Sample:
        rng = np.random.default_rng(seed)
        maps = {
            "prior": rng.random((20, 12, 10), dtype=np.float32),
            "confidence": rng.random((12, 10)).astype(np.float16),
            "noise": rng.random((12, 10)) < 0.5,
            "region": (rng.random((12, 10)) < 0.5).astype(np.uint8),
            **extra,
        }
        specs = {"prior": PRIOR, "confidence": CONFIDENCE, "noise": NOISE, "region": NOISE}
        specs.update({name: NOISE for name in extra})
        return Sample(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), maps=maps, map_specs=specs)

    first, second = sample(0, only_here=np.zeros((12, 10), bool)), sample(1)
    batch = collate([first, second])
    maps = batch["maps"]
    assert set(maps) == {"prior", "confidence", "noise", "region"}  # a map not every sample has is left out
    assert maps["prior"].shape == (2, 20, 12, 10) and maps["prior"].dtype == torch.float32
    assert maps["confidence"].shape == (2, 12, 10) and maps["confidence"].dtype == torch.float16
    assert maps["noise"].dtype == torch.bool and maps["region"].dtype == torch.uint8
    np.testing.assert_array_equal(maps["prior"][1].numpy(), second.maps["prior"])
    # Lightning moves a batch to the device with apply_to_collection: the batch must survive it.
    from lightning_utilities.core.apply_func import apply_to_collection

    moved = apply_to_collection(batch, torch.Tensor, lambda t: t.clone())
    assert torch.equal(moved["maps"]["noise"], maps["noise"])
    mismatched = sample(2)
    mismatched.map_specs["region"] = MapSpec("mask", fill=1)
    with pytest.raises(ValueError, match="region"):
        collate([first, mismatched])


# --------------------------------------------------------------------------- warp back


def test_warp_back_map_restores_maps_at_the_original_size() -> None:
    rng = np.random.default_rng(6)
    label = blob_label(rng, (24, 18), [LIP_LEFT_ARM, LIP_RIGHT_ARM])
    noise = rng.random((24, 18)) < 0.4
    sample = Sample(
        rng.integers(0, 256, (24, 18, 3), dtype=np.uint8), label,
        maps={"prior": one_hot(label, 20), "noise": noise}, map_specs={"prior": PRIOR, "noise": NOISE},
    )
    # Flipped and upsampled by more than sqrt(2): nearest there and back is exact.
    matrix = affine_matrix((24, 18), (64, 64), AffineParams(flip=True))
    out = warp_sample(sample, matrix, (64, 64), LIP)
    back = warp_back_map(out.maps["noise"], NOISE, matrix, (24, 18))
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, noise)
    prior = warp_back_map(out.maps["prior"], PRIOR, matrix, (24, 18), LIP)
    np.testing.assert_array_equal(prior.argmax(0), label)  # channels swapped back by the schema
    with pytest.raises(ValueError, match="schema"):
        warp_back_map(out.maps["prior"], PRIOR, matrix, (24, 18))
    # A tensor gives a tensor of its dtype, equal to the NumPy result.
    tensor = warp_back_map(torch.from_numpy(out.maps["prior"]), PRIOR, matrix, (24, 18), LIP)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor.numpy(), prior, atol=0.02)
    tensor_noise = warp_back_map(torch.from_numpy(out.maps["noise"]), NOISE, matrix, (24, 18))
    assert tensor_noise.dtype == torch.bool and torch.equal(tensor_noise, torch.from_numpy(noise))


def test_eval_transform_letterboxes_maps_without_a_schema() -> None:
    rng = np.random.default_rng(7)
    sample = Sample(
        rng.integers(0, 256, (30, 20, 3), dtype=np.uint8),
        maps={"confidence": rng.random((30, 20)).astype(np.float32)}, map_specs={"confidence": CONFIDENCE},
    )
    out = EvalTransform((64, 64))(sample)
    assert out.maps["confidence"].shape == (64, 64)
    assert (out.maps["confidence"][:, :10] == 0).all()  # padding is the fill
