"""Heatmap targets, decoding and flip (the heatmap loss is in unit/losses/test_heatmap_loss.py)."""

import math

import numpy as np
import pytest
import torch

from helpers import random_keypoints
from humanparse.data.heatmaps import (
    decode_heatmaps, grid_to_pixel, heatmap_peaks, heatmap_size, keypoint_targets, pixel_to_grid, render_gaussians,
    suppress_close,
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


def test_heatmap_peaks_find_every_person_strongest_first_above_the_threshold():
    # joint 0: three people (one faint), joint 1: one person
    centres = torch.tensor([[[5.0, 4.0], [20.0, 12.0], [12.0, 25.0]], [[9.0, 9.0], [0.0, 0.0], [0.0, 0.0]]])
    present = torch.tensor([[True, True, True], [True, False, False]])
    maps = render_gaussians(centres, present, (32, 30), sigma=1.5)  # (2, 3, h, w): one map per person
    strength = torch.tensor([1.0, 0.8, 0.05])[None, :, None, None]
    joint_maps = (maps * strength).amax(1)  # (2, h, w)
    peaks = heatmap_peaks(joint_maps, radius=2, threshold=0.1)
    assert [len(p) for p in peaks] == [2, 1]
    assert peaks[0][:, :2].tolist() == [[5.0, 4.0], [20.0, 12.0]]
    assert peaks[0][0, 2] > peaks[0][1, 2]
    assert peaks[1][0].tolist() == pytest.approx([9.0, 9.0, 1.0])
    assert len(heatmap_peaks(joint_maps, radius=2, threshold=0.01)[0]) == 3


def test_heatmap_peaks_keep_one_cell_of_a_plateau_and_only_the_rows_asked_for():
    maps = torch.zeros(1, 8, 8)
    maps[0, 3, 3:5] = 1.0  # two equal neighbours
    maps[0, 6, 6] = 0.5
    peaks = heatmap_peaks(maps, radius=1, threshold=0.1)[0]
    assert peaks.tolist() == [[3.0, 3.0, 1.0], [6.0, 6.0, 0.5]]
    assert heatmap_peaks(maps, radius=1, threshold=0.1, rows=(5, 8))[0].tolist() == [[6.0, 6.0, 0.5]]
    # a larger radius hides the weaker peak only if it lies within it
    assert len(heatmap_peaks(maps, radius=3, threshold=0.1)[0]) == 1
    with pytest.raises(ValueError, match="radius"):
        heatmap_peaks(maps, radius=0)
    with pytest.raises(ValueError, match=r"\(K, h, w\)"):
        heatmap_peaks(maps[0])


def test_suppress_close_keeps_the_strongest_and_caps_the_count():
    candidates = torch.tensor([[0.0, 0.0, 0.9], [1.0, 1.0, 0.8], [5.0, 0.0, 0.7], [9.0, 9.0, 0.6]])
    assert suppress_close(candidates, 2.0)[:, 2].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert suppress_close(candidates, 0.5)[:, 2].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert len(suppress_close(candidates, 2.0, limit=2)) == 2


def test_heatmap_peaks_refined_with_a_spacing_are_sub_cell():
    centres = torch.tensor([[[4.3, 5.6], [14.8, 9.2]]])
    maps = render_gaussians(centres, torch.ones(1, 2, dtype=torch.bool), (16, 20), sigma=1.0).amax(1)
    coarse, fine = heatmap_peaks(maps, radius=1)[0], heatmap_peaks(maps, radius=1, spacing=1.0)[0]
    assert coarse[:, :2].tolist() == [[15.0, 9.0], [4.0, 6.0]]  # strongest (nearest its cell centre) first
    assert torch.allclose(fine[:, :2], centres[0][[1, 0]], atol=1e-3)
    assert torch.equal(fine[:, 2], coarse[:, 2])
