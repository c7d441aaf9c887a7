"""Heatmap targets, decoding, flip and the heatmap loss."""

import math

import numpy as np
import pytest
import torch

from humanparse.data.heatmaps import (
    decode_heatmaps, grid_to_pixel, heatmap_size, keypoint_targets, pixel_to_grid, render_gaussians,
)
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.data.transforms import flip_heatmaps
from humanparse.losses import HeatmapLoss, LossContext
from humanparse.models.output import ModelOutput
from humanparse.schemas import LIP_JOINTS


def random_keypoints(rng: np.random.Generator, n: int, k: int, size: tuple[int, int], margin: float = 12.0) -> torch.Tensor:
    h, w = size
    kp = np.zeros((n, k, 3), dtype=np.float32)
    kp[..., 0] = rng.uniform(margin, w - 1 - margin, (n, k))
    kp[..., 1] = rng.uniform(margin, h - 1 - margin, (n, k))
    kp[..., 2] = VISIBLE
    return torch.from_numpy(kp)


def test_pixel_grid_conversion_round_trip_and_cell_centres():
    points = torch.tensor([[3.5, 11.5], [0.0, 7.25]])
    assert torch.allclose(grid_to_pixel(pixel_to_grid(points, 8), 8), points)
    # cell 0 of a stride-8 map is centred on input pixel 3.5, cell 1 on 11.5
    assert torch.allclose(pixel_to_grid(torch.tensor([3.5, 11.5]), 8), torch.tensor([0.0, 1.0]))
    assert heatmap_size((384, 100), 8) == (48, 13)


@pytest.mark.parametrize("stride", [1, 4, 8])
def test_encode_decode_round_trip_is_sub_pixel(stride):
    size = (96, 80)
    kp = random_keypoints(np.random.default_rng(stride), 4, 16, size)
    targets, weights = keypoint_targets(kp, heatmap_size(size, stride), stride, sigma=2.0 * stride)
    decoded = decode_heatmaps(targets, stride)
    error = (decoded[..., :2] - kp[..., :2]).norm(dim=-1)
    assert weights.eq(1).all()
    # far below one cell: the refinement recovers the sub-cell position of a Gaussian
    assert error.max() < 0.01 * stride + 1e-3, error.max()
    # without refinement the error would be up to half a cell: make sure the test could tell
    coarse = grid_to_pixel(pixel_to_grid(kp[..., :2], stride).round(), stride)
    assert (coarse - kp[..., :2]).norm(dim=-1).max() > 0.1 * stride
    assert torch.allclose(decoded[..., 2], torch.ones(4, 16), atol=0.2)


def test_missing_joints_give_zero_maps_and_zero_weight_occluded_weighted():
    kp = torch.tensor([[[10.0, 12.0, VISIBLE], [math.nan, math.nan, MISSING], [20.0, 5.0, OCCLUDED]]])
    targets, weights = keypoint_targets(kp, (8, 8), 4, sigma=4.0, occluded_weight=0.25)
    assert targets[0, 1].abs().max() == 0
    assert targets[0, 0].max() > 0.5 and targets[0, 2].max() > 0.5
    assert weights.tolist() == [[1.0, 0.0, 0.25]]
    # a (B, 1, K, 3) batch (one person per image, as collate makes it) is taken too
    targets4, _ = keypoint_targets(kp[:, None], (8, 8), 4, sigma=4.0)
    assert torch.equal(targets4, keypoint_targets(kp, (8, 8), 4, sigma=4.0)[0])


def test_render_gaussian_peak_is_one_at_a_cell_centre():
    maps = render_gaussians(torch.tensor([[[2.0, 3.0]]]), torch.tensor([[True]]), (6, 5), sigma=1.0)
    assert maps[0, 0, 3, 2] == pytest.approx(1.0)
    assert maps[0, 0, 3, 3] == pytest.approx(math.exp(-0.5))


def test_flip_swaps_joints_by_schema_and_mirrors_positions():
    stride, size = 4, (64, 48)  # width divisible by the stride: the map mirrors exactly
    kp = random_keypoints(np.random.default_rng(1), 2, 16, size)
    targets, _ = keypoint_targets(kp, heatmap_size(size, stride), stride, sigma=6.0)
    decoded = decode_heatmaps(flip_heatmaps(targets, LIP_JOINTS), stride)
    perm = LIP_JOINTS.flip_permutation
    expected_x = size[1] - 1 - kp[:, perm, 0]
    expected_y = kp[:, perm, 1]
    assert torch.allclose(decoded[..., 0], expected_x, atol=0.05)
    assert torch.allclose(decoded[..., 1], expected_y, atol=0.05)
    # the right ankle's map is now at the mirrored left ankle: the swap follows the schema
    r_ankle, l_ankle = LIP_JOINTS.joints.index("r_ankle"), LIP_JOINTS.joints.index("l_ankle")
    assert perm[r_ankle] == l_ankle


def test_heatmap_loss_ignores_missing_and_scales_occluded():
    stride, size = 4, (32, 32)
    kp = random_keypoints(np.random.default_rng(2), 2, 3, size)
    kp[0, 1] = torch.tensor([math.nan, math.nan, MISSING])
    kp[1, 2, 2] = OCCLUDED
    pred = torch.randn(2, 3, 8, 8, requires_grad=True)
    loss = HeatmapLoss(LossContext(output_stride=stride), sigma_px=4.0, occluded_weight=0.0)
    value = loss(ModelOutput(heatmaps=pred), {"keypoints": kp})["loss"]
    value.backward()
    assert value > 0
    assert pred.grad[0, 1].abs().max() == 0  # missing joint: no pull towards an all-zero map
    assert pred.grad[1, 2].abs().max() == 0  # occluded at weight 0
    assert pred.grad[0, 0].abs().max() > 0
    # the value is the per-image L2 norm, averaged over the batch
    targets, weights = keypoint_targets(kp, (8, 8), stride, 4.0, 0.0)
    per_image = ((pred.detach() - targets) ** 2).sum((-2, -1)).mul(weights).sum(1).sqrt()
    assert value.item() == pytest.approx(per_image.mean().item(), rel=1e-5)


def test_heatmap_loss_sums_aux_outputs_and_is_zero_at_target():
    stride, size = 8, (64, 64)
    kp = random_keypoints(np.random.default_rng(3), 1, 16, size)
    targets, _ = keypoint_targets(kp, (8, 8), stride, 8.0)
    perfect = ModelOutput(heatmaps=targets.clone(), aux_heatmaps=[targets.clone()])
    context = LossContext(output_stride=stride)
    assert HeatmapLoss(context, sigma_px=8.0)(perfect, {"keypoints": kp})["loss"].item() < 1e-5
    off = ModelOutput(heatmaps=targets.clone(), aux_heatmaps=[torch.zeros_like(targets)])
    parts = HeatmapLoss(context, sigma_px=8.0, aux_weight=0.5)(off, {"keypoints": kp})
    assert parts["main"].item() < 1e-5 and parts["aux"].item() > 1
    assert parts["loss"].item() == pytest.approx(0.5 * parts["aux"].item(), rel=1e-4)
    with pytest.raises(ValueError, match="joints"):
        HeatmapLoss(context)(ModelOutput(heatmaps=torch.zeros(1, 5, 8, 8)), {"keypoints": kp})
    with pytest.raises(ValueError, match="no heatmaps"):
        HeatmapLoss(context)(ModelOutput(logits=torch.zeros(1, 2, 8, 8)), {"keypoints": kp})
