"""The heatmap loss: missing joints pull nowhere, occluded ones at their weight, aux outputs summed."""

import math

import numpy as np
import pytest
import torch

from helpers import random_keypoints
from humanparse.data.heatmaps import keypoint_targets
from humanparse.data.sample import MISSING, OCCLUDED
from humanparse.losses import HeatmapLoss, LossContext
from humanparse.models.output import ModelOutput


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
