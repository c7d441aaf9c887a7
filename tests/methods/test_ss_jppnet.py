"""SS-JPPNet structure-sensitive loss: group centroids, label downsampling, L_joint against a numpy
reference, per-image independence (no centroids accumulated over the batch), the gradient
(L_joint_i times image i's cross-entropy gradient, not the plain one) and deep supervision."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from humanparse.losses.structure import (
    StructureSensitiveLoss,
    downsample_label,
    group_centres,
    joint_structure_loss,
)
from humanparse.models import ModelOutput
from humanparse.schemas import LabelSchema
from humanparse.schemas.lip import LIP

IGNORE = 255
TINY = LabelSchema(
    name="tiny",
    classes=("bg", "a", "b", "c", "d"),
    groups=(("g1", ("a", "b")), ("g2", ("c",)), ("g3", ("d",))),
)


# ----------------------------------------------------------------------------- numpy reference


def np_downsample(label: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W) -> (h, w): the pixel holding each cell centre s * j + (s - 1) / 2 (half -> later pixel)."""
    big_h, big_w = label.shape

    def index(n_in: int, n_out: int) -> list[int]:
        s = Fraction(n_in, n_out)
        return [min(n_in - 1, math.floor(s * j + (s - 1) / 2 + Fraction(1, 2))) for j in range(n_out)]

    return label[np.ix_(index(big_h, h), index(big_w, w))]


def np_centres(label_map: np.ndarray, groups) -> list[tuple[float, float] | None]:
    """Centroid (x, y) of each group's pixels in one image, None where it has none."""
    out = []
    for _, ids in groups:
        ys, xs = np.nonzero(np.isin(label_map, ids))
        out.append((float(xs.mean()), float(ys.mean())) if len(xs) else None)
    return out


def np_gaussian(centre: tuple[float, float] | None, h: int, w: int, sigma: float) -> np.ndarray:
    if centre is None:
        return np.zeros((h, w))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))


def np_joint(logits: np.ndarray, label: np.ndarray, groups, sigma: float = 1.0) -> np.ndarray:
    """(B,) L_joint = 1/(2N) sum_g ||C_pred - C_gt||^2 per image, one image at a time; N = the
    groups present in the ground truth; cells ignored in the ground truth count for neither side."""
    out = []
    for lg, lb in zip(logits, label):
        _, h, w = lg.shape
        small = np_downsample(lb, h, w)
        gt = np_centres(small, groups)
        pred = np_centres(np.where(small == IGNORE, IGNORE, lg.argmax(axis=0)), groups)
        total, n = 0.0, 0
        for cg, cp in zip(gt, pred):
            n += cg is not None
            total += float(((np_gaussian(cp, h, w, sigma) - np_gaussian(cg, h, w, sigma)) ** 2).sum())
        out.append(total / (2 * max(n, 1)))
    return np.asarray(out)


def plain_ce(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """(B,) each image's mean CE computed one image at a time with torch's own reduction."""
    up = F.interpolate(logits.float(), size=tuple(label.shape[-2:]), mode="bilinear", align_corners=False)
    return torch.stack([F.cross_entropy(up[i : i + 1], label[i : i + 1], ignore_index=IGNORE) for i in range(len(up))])


def random_example(schema: LabelSchema, batch: int, size: tuple[int, int], grid: tuple[int, int], seed: int):
    """Blocky labels (so groups have extent) with some ignore pixels, and random logits."""
    rng = np.random.default_rng(seed)
    c = schema.num_classes
    coarse = rng.integers(0, c, size=(batch, (size[0] + 3) // 4, (size[1] + 3) // 4))
    label = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)[:, : size[0], : size[1]]
    label = np.where(rng.random(label.shape) < 0.08, IGNORE, label)
    logits = rng.normal(size=(batch, c, *grid)) * 2.0
    return torch.tensor(logits, dtype=torch.float32), torch.tensor(label, dtype=torch.long)


# ----------------------------------------------------------------------------- centroids


def hand_label() -> torch.Tensor:
    a = [
        [0, 1, 1, 0, 0],
        [0, 2, IGNORE, 0, 3],
        [0, 0, 0, 0, 3],
        [IGNORE, IGNORE, 0, 0, 0],
    ]
    b = [
        [1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, IGNORE, 0, 0],
        [0, 0, 0, 0, 4],
    ]
    return torch.tensor([a, b])


def test_group_centres_hand_computed():
    centres, present = group_centres(hand_label(), TINY.groups)
    assert centres.shape == (2, 3, 2) and present.shape == (2, 3) and present.dtype == torch.bool
    assert present.tolist() == [[True, True, False], [True, False, True]]
    # image 0: g1 = a at (1,0), (2,0) and b at (1,1); g2 = c at (4,1), (4,2)
    torch.testing.assert_close(centres[0, 0], torch.tensor([4 / 3, 1 / 3]))
    torch.testing.assert_close(centres[0, 1], torch.tensor([4.0, 1.5]))
    # image 1: g1 at (0,0) only, g3 at (4,3): image 0's far-away g1 pixels do not pull it
    torch.testing.assert_close(centres[1, 0], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(centres[1, 2], torch.tensor([4.0, 3.0]))


def test_group_centres_ignore_index_never_counts():
    label = hand_label()
    # with class b (2) declared the ignore value, g1 of image 0 is a's pixels alone
    centres, present = group_centres(label, TINY.groups, ignore_index=2)
    torch.testing.assert_close(centres[0, 0], torch.tensor([1.5, 0.0]))
    # a group whose only pixels are ignore ones is not present
    only_ignored = torch.tensor([[[2, 0], [0, 2]]])
    _, present = group_centres(only_ignored, (("g", (2,)),), ignore_index=2)
    assert not present.any()


def test_group_centres_per_image_not_accumulated_over_batch():
    label = hand_label()
    far = label.clone()
    far[1] = 0
    far[1, 3, 4] = 1  # image 1's g1 far in the corner
    for batch in (label, far):
        c_batch, p_batch = group_centres(batch, TINY.groups)
        for i in range(2):
            c_one, p_one = group_centres(batch[i : i + 1], TINY.groups)
            torch.testing.assert_close(c_batch[i : i + 1], c_one)
            assert torch.equal(p_batch[i : i + 1], p_one)
    torch.testing.assert_close(group_centres(far, TINY.groups)[0][0], group_centres(label, TINY.groups)[0][0])


def test_group_centres_matches_numpy_on_random_maps():
    _, label = random_example(LIP, 3, (9, 13), (2, 2), seed=3)
    centres, present = group_centres(label, LIP.groups)
    for i in range(len(label)):
        for g, ref in enumerate(np_centres(label[i].numpy(), LIP.groups)):
            assert bool(present[i, g]) == (ref is not None)
            if ref is not None:
                np.testing.assert_allclose(centres[i, g].numpy(), ref, atol=1e-5)


# ----------------------------------------------------------------------------- label downsampling


@pytest.mark.parametrize(
    "size, grid", [((16, 16), (2, 4)), ((13, 10), (4, 3)), ((97, 131), (13, 17)), ((8, 8), (8, 8))]
)
def test_downsample_label_takes_cell_centres(size, grid):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 256, size=(2, *size))
    out = downsample_label(torch.tensor(label), grid)
    assert out.shape == (2, *grid)
    for i in range(2):
        np.testing.assert_array_equal(out[i].numpy(), np_downsample(label[i], *grid))
    # the same as nearest-exact interpolation (exact on these small integer values)
    interp = F.interpolate(torch.tensor(label, dtype=torch.float32)[:, None], size=grid, mode="nearest-exact")
    np.testing.assert_array_equal(out.numpy(), interp[:, 0].long().numpy())


def test_downsample_label_hand_checked():
    label = torch.arange(16).repeat(16, 1)[None]  # value = column
    # stride 8: cells centred on pixels 3.5 and 11.5 -> pixels 4 and 12
    assert downsample_label(label, (2, 2))[0, 0].tolist() == [4, 12]
    # stride 3 on 9 columns: centres 1, 4, 7
    assert downsample_label(label[..., :9, :9], (3, 3))[0, 0].tolist() == [1, 4, 7]


# ----------------------------------------------------------------------------- L_joint


@pytest.mark.parametrize(
    "schema, size, grid, sigma",
    [
        (TINY, (16, 12), (4, 3), 1.0),
        (TINY, (13, 10), (4, 3), 0.7),
        (LIP, (24, 32), (6, 8), 1.0),
        (LIP, (20, 20), (7, 7), 2.0),
    ],
)
def test_joint_matches_numpy_reference(schema, size, grid, sigma):
    for seed in range(3):
        logits, label = random_example(schema, 2, size, grid, seed)
        ref = np_joint(logits.numpy(), label.numpy(), schema.groups, sigma)
        loss = StructureSensitiveLoss(schema, sigma_cells=sigma)
        joint, ce = loss.per_image(logits, label)
        np.testing.assert_allclose(joint.numpy(), ref, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(joint_structure_loss(logits, label, schema.groups, sigma).numpy(), ref, atol=1e-5)
        torch.testing.assert_close(ce, plain_ce(logits, label))
        out = loss(ModelOutput(logits=logits), {"label": label})
        np.testing.assert_allclose(out["joint"].item(), ref.mean(), atol=1e-5, rtol=1e-5)


def test_joint_hand_example_one_group_missing_from_prediction():
    # one group, present in the ground truth only: L = ||G||^2 / 2 with N = 1
    schema = LabelSchema(name="one", classes=("bg", "a"), groups=(("g", ("a",)),))
    label = torch.zeros(1, 5, 5, dtype=torch.long)
    label[0, 2, 2] = 1
    logits = torch.zeros(1, 2, 5, 5)
    logits[:, 0] = 1.0  # predicts background everywhere
    joint, _ = StructureSensitiveLoss(schema).per_image(logits, label)
    ys, xs = np.mgrid[0:5, 0:5]
    expected = np.exp(-((xs - 2) ** 2 + (ys - 2) ** 2)).sum() / 2  # Gaussian^2 with sigma 1
    np.testing.assert_allclose(joint.numpy(), [expected], rtol=1e-6)


def test_n_counts_the_ground_truth_groups():
    # group g1 matches exactly, g2 and g3 absent from the truth: N = 1, so L = 0; then g2 appears in
    # the prediction only: it is compared with a zero map, N stays 1 and L = ||G||^2 / 2
    label = torch.zeros(1, 6, 6, dtype=torch.long)
    label[0, 1, 1] = 1
    logits = torch.zeros(1, 5, 6, 6)
    logits[0, 0] = 1.0
    logits[0, 1, 1, 1] = 5.0
    loss = StructureSensitiveLoss(TINY)
    assert loss.per_image(logits, label)[0].item() == 0.0
    logits[0, 3, 4, 4] = 5.0
    ys, xs = np.mgrid[0:6, 0:6]
    expected = np.exp(-((xs - 4) ** 2 + (ys - 4) ** 2)).sum() / 2
    np.testing.assert_allclose(loss.per_image(logits, label)[0].numpy(), [expected], rtol=1e-6)


def test_structure_equal_to_ground_truth_gives_zero_loss():
    _, label = random_example(LIP, 2, (32, 24), (8, 6), seed=7)
    coarse = np.stack([np_downsample(lb, 8, 6) for lb in label.numpy()])
    coarse = np.where(coarse == IGNORE, 0, coarse)  # background where the label is ignored
    strong = F.one_hot(torch.tensor(coarse), LIP.num_classes).permute(0, 3, 1, 2).float() * 30.0
    strong.requires_grad_(True)
    out = StructureSensitiveLoss(LIP)(ModelOutput(logits=strong), {"label": label})
    assert out["parsing"].item() > 1e-3  # the CE is not zero (bilinear upsampling blurs borders) ...
    assert out["joint"].item() < 1e-6  # ... but the structure matches,
    assert abs(out["loss"].item()) < 1e-6  # so the loss vanishes
    out["loss"].backward()
    assert strong.grad.abs().max().item() < 1e-6


# ----------------------------------------------------------------------------- per-image independence


def test_batch_terms_equal_single_image_terms():
    loss = StructureSensitiveLoss(LIP)
    logits, label = random_example(LIP, 2, (24, 32), (6, 8), seed=11)
    joint, ce = loss.per_image(logits, label)
    for i in range(2):
        j_one, ce_one = loss.per_image(logits[i : i + 1], label[i : i + 1])
        torch.testing.assert_close(joint[i : i + 1], j_one)
        torch.testing.assert_close(ce[i : i + 1], ce_one)
        out_one = loss(ModelOutput(logits=logits[i : i + 1]), {"label": label[i : i + 1]})
        torch.testing.assert_close(out_one["loss"], j_one[0] * ce_one[0])
    out = loss(ModelOutput(logits=logits), {"label": label})
    torch.testing.assert_close(out["loss"], (joint * ce).mean())
    torch.testing.assert_close(out["joint"], joint.mean())
    assert not torch.allclose(out["loss"], joint.mean() * ce.mean())  # the product is per image


def test_changing_image_b_leaves_image_a_unchanged():
    loss = StructureSensitiveLoss(LIP)
    logits, label = random_example(LIP, 2, (24, 32), (6, 8), seed=12)
    joint, ce = loss.per_image(logits, label)
    other_logits, other_label = random_example(LIP, 1, (24, 32), (6, 8), seed=99)
    # image b: every pixel "Left-arm", logits strongly "Right-shoe", both far away from a's groups
    far_label = label.clone()
    far_label[1] = LIP.classes.index("Left-arm")
    far_logits = logits.clone()
    far_logits[1] = 0.0
    far_logits[1, LIP.classes.index("Right-shoe"), -1, -1] = 50.0
    for lg, lb in (
        (torch.cat([logits[:1], other_logits]), torch.cat([label[:1], other_label])),
        (far_logits, far_label),
        (logits, far_label),
        (far_logits, label),
    ):
        j2, ce2 = loss.per_image(lg, lb)
        torch.testing.assert_close(j2[0], joint[0])
        torch.testing.assert_close(ce2[0], ce[0])
        assert not torch.equal(j2[1], joint[1]) or not torch.equal(ce2[1], ce[1])


# ----------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("schema, size, grid", [(TINY, (16, 12), (4, 3)), (LIP, (24, 32), (6, 8))])
def test_gradient_is_factor_times_per_image_ce_gradient(schema, size, grid):
    logits, label = random_example(schema, 2, size, grid, seed=5)
    factor = torch.tensor(np_joint(logits.numpy(), label.numpy(), schema.groups), dtype=torch.float32)
    assert (factor - 1.0).abs().min() > 0.05 and (factor[0] - factor[1]).abs() > 1e-3

    x = logits.clone().requires_grad_(True)
    out = StructureSensitiveLoss(schema)(ModelOutput(logits=x), {"label": label})
    assert not out["joint"].requires_grad and not out["parsing"].requires_grad
    (grad,) = torch.autograd.grad(out["loss"], x)

    y = logits.clone().requires_grad_(True)
    ce = plain_ce(y, label)
    (expected,) = torch.autograd.grad((factor * ce).mean(), y, retain_graph=True)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-7)
    for i in range(2):  # per image: L_joint_i times the gradient of image i's own CE
        (grad_i,) = torch.autograd.grad(ce[i], y, retain_graph=True)
        torch.testing.assert_close(grad[i], factor[i] * grad_i[i] / 2, rtol=1e-4, atol=1e-7)

    # not the plain cross-entropy's gradient (the Caffe layer's bug), of the batch or of each image
    z = logits.clone().requires_grad_(True)
    (plain_batch,) = torch.autograd.grad(F.cross_entropy(
        F.interpolate(z, size=size, mode="bilinear", align_corners=False), label, ignore_index=IGNORE), z)
    (plain_images,) = torch.autograd.grad(plain_ce(z, label).mean(), z)
    assert not torch.allclose(grad, plain_batch, rtol=1e-2, atol=1e-6)
    assert not torch.allclose(grad, plain_images, rtol=1e-2, atol=1e-6)


# ----------------------------------------------------------------------------- deep supervision


def test_deep_supervision_weighs_every_supervised_output():
    schema, size = TINY, (16, 12)
    logits, label = random_example(schema, 2, size, (4, 3), seed=21)
    aux1, _ = random_example(schema, 2, size, (8, 6), seed=22)
    aux2, _ = random_example(schema, 2, size, (4, 3), seed=23)
    w = 0.4
    loss = StructureSensitiveLoss(schema, aux_weight=w)
    ce_main, ce_1, ce_2 = plain_ce(logits, label), plain_ce(aux1, label), plain_ce(aux2, label)

    # factor from the supervised final logits, weighing main and aux CE alike
    f = torch.tensor(np_joint(logits.numpy(), label.numpy(), schema.groups), dtype=torch.float32)
    out = loss(ModelOutput(logits=logits, aux_logits=[aux1, aux2]), {"label": label})
    torch.testing.assert_close(out["loss"], (f * (ce_main + w * (ce_1 + ce_2))).mean())
    torch.testing.assert_close(out["main"], (f * ce_main).mean())
    torch.testing.assert_close(out["aux"], (f * (ce_1 + ce_2)).mean())
    torch.testing.assert_close(out["parsing"], (ce_main + w * (ce_1 + ce_2)).mean())
    torch.testing.assert_close(out["joint"], f.mean())

    # logits not supervised (JPPNet's stage average): the factor still comes from them, the
    # prediction inference uses; the aux outputs are then the main supervision and weigh 1
    out = loss(ModelOutput(logits=logits, aux_logits=[aux1, aux2], supervise_logits=False), {"label": label})
    torch.testing.assert_close(out["loss"], (f * (ce_1 + ce_2)).mean())
    torch.testing.assert_close(out["main"], torch.tensor(0.0))
    torch.testing.assert_close(out["joint"], f.mean())
    # no logits at all: the factor comes from the last aux output
    f2 = torch.tensor(np_joint(aux2.numpy(), label.numpy(), schema.groups), dtype=torch.float32)
    assert not torch.allclose(f, f2)
    out = loss(ModelOutput(logits=None, aux_logits=[aux1, aux2]), {"label": label})
    torch.testing.assert_close(out["loss"], (f2 * (ce_1 + ce_2)).mean())
    torch.testing.assert_close(out["joint"], f2.mean())


def test_image_without_valid_pixels_contributes_zero():
    logits, label = random_example(TINY, 2, (16, 12), (4, 3), seed=31)
    label[1] = IGNORE
    loss = StructureSensitiveLoss(TINY)
    joint, ce = loss.per_image(logits, label)
    assert ce[1].item() == 0.0 and torch.isfinite(joint).all()
    out = loss(ModelOutput(logits=logits), {"label": label})
    torch.testing.assert_close(out["loss"], joint[0] * plain_ce(logits[:1], label[:1])[0] / 2)


# ----------------------------------------------------------------------------- errors


def test_schema_without_groups_is_an_error():
    schema = LabelSchema(name="nogroups", classes=("bg", "person"))
    with pytest.raises(ValueError, match="no pseudo-joint groups"):
        StructureSensitiveLoss(schema)


def test_output_without_parsing_logits_is_an_error():
    _, label = random_example(TINY, 1, (8, 8), (2, 2), seed=0)
    with pytest.raises(ValueError, match="no supervised parsing logits"):
        StructureSensitiveLoss(TINY)(ModelOutput(logits=None), {"label": label})


def test_parsing_loss_weighs_aux_outputs_one_when_logits_are_not_supervised():
    from humanparse.losses import ParsingLoss

    logits, label = random_example(TINY, 2, (16, 12), (4, 3), seed=41)
    aux, _ = random_example(TINY, 2, (16, 12), (8, 6), seed=42)
    ce_main = F.cross_entropy(F.interpolate(logits, size=(16, 12), mode="bilinear"), label, ignore_index=IGNORE)
    ce_aux = F.cross_entropy(F.interpolate(aux, size=(16, 12), mode="bilinear"), label, ignore_index=IGNORE)
    loss = ParsingLoss(aux_weight=0.25)
    torch.testing.assert_close(loss(ModelOutput(logits=logits, aux_logits=[aux]), {"label": label})["loss"], ce_main + 0.25 * ce_aux)
    # JPPNet-like: the logits only average the aux outputs, which are then the main supervision
    unsupervised = ModelOutput(logits=logits, aux_logits=[aux], supervise_logits=False)
    torch.testing.assert_close(loss(unsupervised, {"label": label})["loss"], ce_aux)


def test_predicted_centres_ignore_cells_the_ground_truth_ignores():
    # A part painted into the padding (ignored in the label) must not move the predicted centre.
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[0, :, :4] = 1  # group "a" = class 1 on the left half; the right half is ignored
    label[0, :, 4:] = IGNORE
    logits = torch.zeros(1, 3, 8, 8)
    logits[0, 1] = 5.0  # class 1 predicted everywhere, the ignored half included
    schema = LabelSchema(name="two", classes=("bg", "a", "b"), groups=(("a", ("a",)),))
    assert joint_structure_loss(logits, label, schema.groups).item() == 0.0


def test_coordinate_form_normalises_by_the_grid_and_counts_every_group():
    # SS-NAN's Eq. 4 on coordinates: d^2 over the unit square, N = the number of groups (2 here).
    schema = LabelSchema(name="two", classes=("bg", "a", "b"), groups=(("a", ("a",)), ("b", ("b",))))
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[0, 0, 0] = 1  # "a" at (0, 0); "b" absent from the truth
    logits = torch.zeros(1, 3, 8, 8)
    logits[0, 0] = 1.0
    logits[0, 1, 0, 4] = 5.0  # "a" predicted at (x=4, y=0): half the grid's width away
    logits[0, 2, 7, 7] = 5.0  # "b" predicted, absent from the truth: charged 2
    value = joint_structure_loss(logits, label, schema.groups, form="coordinates").item()
    assert value == pytest.approx((0.5**2 + 2.0) / (2 * 2))
    with pytest.raises(ValueError, match="form"):
        joint_structure_loss(logits, label, schema.groups, form="pixels")
