"""Heatmap targets, decoding and flip (the heatmap loss is in unit/losses/test_heatmap_loss.py)."""

import math

import numpy as np
import pytest
import torch

from helpers import random_keypoints
from humanparse.data.heatmaps import (
    decode_heatmaps, grid_to_pixel, heatmap_size, keypoint_targets, pixel_to_grid, render_gaussians,
)
from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.data.transforms import flip_heatmaps
from humanparse.schemas import LIP_JOINTS


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
