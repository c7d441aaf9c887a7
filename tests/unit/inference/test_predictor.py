"""Test-time augmentation: flip by the schema, multi-scale averaging, original resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from humanparse.data.sample import Sample
from humanparse.data.transforms import EvalTransform, warp_back
from humanparse.inference.predictor import Predictor, class_ids, normalize
from humanparse.models import ModelOutput
from humanparse.schemas import LIP, LabelSchema

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class MirrorEquivariantNet(nn.Module):
    """A 3x3 conv whose kernel for each right-side class is the mirror of its left partner's,
    and mirror-symmetric for classes without a partner: flipping the input flips the output
    and swaps left and right classes, exactly what flip test-time augmentation assumes."""

    def __init__(self, schema: LabelSchema, symmetric: bool = True) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        weight = torch.randn(schema.num_classes, 3, 3, 3, generator=g)
        if symmetric:
            for c in range(schema.num_classes):
                partner = int(schema.flip_permutation[c])
                if partner == c:
                    weight[c] = (weight[c] + weight[c].flip(-1)) / 2
                elif partner > c:
                    weight[partner] = weight[c].flip(-1)
        self.conv = nn.Conv2d(3, schema.num_classes, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return ModelOutput(self.conv(x))


class SideNet(nn.Module):
    """Predicts one class on the left half of its input and another on the right half."""

    def __init__(self, num_classes: int, left_class: int, right_class: int) -> None:
        super().__init__()
        self.num_classes, self.left_class, self.right_class = num_classes, left_class, right_class

    def forward(self, x: torch.Tensor) -> ModelOutput:
        b, _, h, w = x.shape
        cols = torch.arange(w, dtype=torch.float32)
        logits = torch.zeros(b, self.num_classes, h, w)
        logits[:, self.left_class] = 5.0 * (2 * cols < w - 1).float()
        logits[:, self.right_class] = 5.0 * (2 * cols > w - 1).float()
        return ModelOutput(logits)


class StridedNet(nn.Module):
    """Output stride 2, so the predictor has to upsample."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, num_classes, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return ModelOutput(self.conv(x))


def _images(shapes, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def test_normalize_maps_pixels_to_standard_units() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    out = normalize(images, mean=(0.2, 0.2, 0.2), std=(0.5, 0.5, 0.5))
    assert out.dtype == torch.float32
    assert torch.allclose(out[0, 0, 0], torch.tensor([-0.4, 0.0, 1.6]), atol=1e-6)


def test_flip_is_exact_for_a_mirror_equivariant_model() -> None:
    images = _images([(40, 30), (29, 45)])
    model = MirrorEquivariantNet(LIP).eval()
    plain = Predictor(model, LIP, (32, 32), MEAN, STD, flip=False).predict_logits(images)
    flipped = Predictor(model, LIP, (32, 32), MEAN, STD, flip=True).predict_logits(images)
    for a, b in zip(plain, flipped):
        assert torch.allclose(a, b, atol=1e-4)


def test_flip_changes_the_output_of_a_model_that_is_not_symmetric() -> None:
    images = _images([(40, 30)])
    model = MirrorEquivariantNet(LIP, symmetric=False).eval()
    plain = Predictor(model, LIP, (32, 32), MEAN, STD, flip=False).predict_logits(images)[0]
    flipped = Predictor(model, LIP, (32, 32), MEAN, STD, flip=True).predict_logits(images)[0]
    assert (plain - flipped).abs().max() > 0.1


def test_flipped_branch_swaps_left_and_right_by_the_schema() -> None:
    left_arm, right_arm = LIP.classes.index("Left-arm"), LIP.classes.index("Right-arm")
    model = SideNet(LIP.num_classes, left_arm, right_arm)
    images = _images([(64, 64)])
    plain = Predictor(model, LIP, (32, 32), MEAN, STD, flip=False).predict_logits(images)[0]
    flipped = Predictor(model, LIP, (32, 32), MEAN, STD, flip=True).predict_logits(images)[0]
    assert torch.allclose(plain, flipped, atol=1e-5)
    labels = Predictor(model, LIP, (32, 32), MEAN, STD, flip=True).predict_labels(images)[0]
    assert (labels[:, :28] == left_arm).all() and (labels[:, 36:] == right_arm).all()

    # Without the schema's pairs the mirrored branch puts Left-arm on the right: no longer consistent.
    unpaired = LabelSchema("lip_unpaired", LIP.classes, LIP.palette)
    confused = Predictor(model, unpaired, (32, 32), MEAN, STD, flip=True).predict_logits(images)[0]
    assert (confused - plain).abs().max() > 1.0


def _manual_scale(model: nn.Module, image: np.ndarray, scale: float, size=(32, 32)) -> tuple[torch.Tensor, torch.Tensor]:
    """One scale by hand: letterbox, normalise, forward, upsample, warp logits and coverage back."""
    warped = EvalTransform(size, scale=scale)(Sample(image=image))
    x = normalize(torch.from_numpy(warped.image).permute(2, 0, 1)[None], MEAN, STD)
    with torch.no_grad():
        logits = F.interpolate(model(x).logits, size=size, mode="bilinear", align_corners=False)[0]
    back = warp_back(logits, warped.meta["affine"], warped.meta["orig_size"], LIP)
    coverage = warp_back(torch.ones(1, *size), warped.meta["affine"], warped.meta["orig_size"])
    return back, coverage


def test_multi_scale_is_the_mean_of_single_scales_at_odd_original_sizes() -> None:
    model = StridedNet(LIP.num_classes).eval()
    images = _images([(37, 53), (50, 41)])
    out = Predictor(model, LIP, (32, 32), MEAN, STD, scales=(0.5, 0.75)).predict_logits(images)
    for image, logits in zip(images, out):
        assert logits.shape == (LIP.num_classes, *image.shape[:2])
        # Zooms below 1 keep the whole image inside the network input, so every pixel is
        # seen fully at both scales and the result is the plain mean.
        (a, cov_a), (b, cov_b) = (_manual_scale(model, image, s) for s in (0.5, 0.75))
        assert torch.allclose(cov_a, torch.ones_like(cov_a)) and torch.allclose(cov_b, torch.ones_like(cov_b))
        assert torch.allclose(logits, (a + b) / 2, atol=1e-5)


def test_zoomed_scales_only_count_where_they_see_the_image() -> None:
    model = StridedNet(LIP.num_classes).eval()
    image = _images([(37, 53)])[0]
    logits = Predictor(model, LIP, (32, 32), MEAN, STD, scales=(0.75, 1.5)).predict_logits([image])[0]
    (a, _cov_a), (b, cov_b) = (_manual_scale(model, image, s) for s in (0.75, 1.5))
    assert (cov_b == 0).any(), "a zoom of 1.5 should crop the image's sides"
    cropped = cov_b[0] == 0
    assert torch.allclose(logits[:, cropped], a[:, cropped], atol=1e-5)
    both = cov_b[0] == 1
    assert torch.allclose(logits[:, both], (a[:, both] + b[:, both]) / 2, atol=1e-5)


class ConstantNet(nn.Module):
    """Logits 0, 1, ..., C - 1 everywhere, at output stride 2, whatever the input."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> ModelOutput:
        b, _, h, w = x.shape
        values = torch.arange(self.num_classes, dtype=torch.float32).view(1, -1, 1, 1)
        return ModelOutput(values.expand(b, -1, (h + 1) // 2, (w + 1) // 2).clone())


@pytest.mark.parametrize("scales", [(1.0,), (0.75, 1.5)])
def test_image_edges_are_not_faded_by_the_border(scales) -> None:
    """Warping back reads zeros beyond the network map at the image's edges; dividing by the
    coverage undoes that, so a constant prediction stays constant up to the edge."""
    image = _images([(37, 53)])[0]
    logits = Predictor(ConstantNet(LIP.num_classes), LIP, (32, 32), MEAN, STD, scales=scales)
    out = logits.predict_logits([image])[0]
    expected = torch.arange(LIP.num_classes, dtype=torch.float32).view(-1, 1, 1).expand_as(out)
    assert torch.allclose(out, expected, atol=1e-4), (out - expected).abs().amax()


def test_labels_and_probabilities_match_the_logits() -> None:
    model = StridedNet(LIP.num_classes).eval()
    images = _images([(37, 53), (20, 20), (64, 33)])
    predictor = Predictor(model, LIP, (32, 32), MEAN, STD, scales=(1.0, 0.75), flip=True)
    logits = predictor.predict_logits(images)
    preds = predictor.predict(images, probabilities=True)
    for image, lg, pred in zip(images, logits, preds):
        assert pred.labels.dtype == np.uint8 and pred.labels.shape == image.shape[:2]
        assert np.array_equal(pred.labels, lg.argmax(0).numpy())
        assert pred.probabilities.shape == (LIP.num_classes, *image.shape[:2])
        assert np.allclose(pred.probabilities.sum(0), 1.0, atol=1e-5)
    assert predictor.predict_logits([]) == []


def test_bad_input_is_rejected() -> None:
    predictor = Predictor(StridedNet(LIP.num_classes), LIP, (32, 32))
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict_logits([np.zeros((10, 10, 3), dtype=np.float32)])
    with pytest.raises(ValueError, match="scales"):
        Predictor(StridedNet(LIP.num_classes), LIP, (32, 32), scales=(0.0,))
    with pytest.raises(ValueError, match="classes"):
        Predictor(StridedNet(5), LIP, (32, 32)).predict_logits(_images([(10, 10)]))


def test_class_ids_are_the_argmax_first_on_ties():
    torch.manual_seed(0)
    scores = torch.randn(7, 33, 41)
    scores[:, 0, 0] = 1.0  # every class ties: the first wins
    scores[2, 1, 1] = scores[5, 1, 1] = scores[:, 1, 1].max() + 1  # 2 and 5 tie above the rest
    ids = class_ids(scores)
    assert ids.dtype == torch.int64 and torch.equal(ids, scores.argmax(0))
    assert ids[0, 0] == 0 and ids[1, 1] == 2


class PartsAndJoints(nn.Module):
    """Parsing logits and positive joint heatmaps at output stride 2, from random convolutions."""

    output_stride = 2

    def __init__(self, classes: int, joints: int) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.parts = nn.Conv2d(3, classes, 3, stride=2, padding=1)
        self.joints = nn.Conv2d(3, joints, 5, stride=2, padding=2)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return ModelOutput(self.parts(x), heatmaps=torch.exp(self.joints(x)))


def test_original_resolution_steps_go_in_bounded_bands_with_the_same_result(monkeypatch) -> None:
    import humanparse.inference.predictor as predictor_module
    from humanparse.schemas import LIP_JOINTS

    model = PartsAndJoints(LIP.num_classes, LIP_JOINTS.num_joints)
    images = _images([(90, 70), (41, 120)])

    def predictor() -> Predictor:
        return Predictor(model, LIP, (32, 32), MEAN, STD, scales=(1.0, 0.75), flip=True, joint_schema=LIP_JOINTS)

    whole = predictor().predict(images, probabilities=True)
    whole_logits = predictor().predict_logits(images)
    channels = LIP.num_classes + LIP_JOINTS.num_joints + 1  # the maps and their coverage
    budget = channels * 120 * 6  # a few rows at a time
    warped: list[int] = []

    def recording_warp_back(pred, *args, **kwargs):
        out = warp_back(pred, *args, **kwargs)
        warped.append(out.numel())
        return out

    monkeypatch.setattr(predictor_module, "BAND_VALUES", budget)
    monkeypatch.setattr(predictor_module, "warp_back", recording_warp_back)
    banded = predictor().predict(images, probabilities=True)
    assert len(warped) > 2 * 2 * 10 and max(warped) <= budget  # images x scales x bands, none over the budget
    for a, b in zip(whole, banded):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-6, atol=0)  # softmax rounds by tensor length
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-3)
    for a, b in zip(whole_logits, predictor().predict_logits(images)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
