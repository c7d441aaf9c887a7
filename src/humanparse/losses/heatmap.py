"""The heatmap loss of the pose networks: L2 between predicted and Gaussian target heatmaps."""

from __future__ import annotations

import torch
from torch import nn

from ..data.heatmaps import keypoint_targets
from ..models.output import ModelOutput


class HeatmapLoss(nn.Module):
    """Per image, the L2 norm of the weighted difference between predicted and target heatmaps,
    averaged over the batch; summed over the final and every deeply supervised heatmap output.

    For image b: ``sqrt(sum_k w_bk * sum_pixels (pred_bk - target_bk)^2)``, JPPNet's L2 loss
    (its gradient has the same size for every image whatever the map size). Targets are
    Gaussians of ``sigma`` input pixels rendered at each output's own stride; ``w_bk`` is 0 for a
    joint that is not annotated (or fell outside the crop), ``occluded_weight`` for one marked
    occluded and 1 for a visible one. A joint without annotation thus never pulls its map
    towards zero.
    """

    def __init__(self, sigma: float = 8.0, occluded_weight: float = 1.0, aux_weight: float = 1.0) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"heatmap sigma must be positive, not {sigma!r}")
        if not 0.0 <= occluded_weight:
            raise ValueError(f"occluded_weight must be >= 0, not {occluded_weight!r}")
        self.sigma = float(sigma)
        self.occluded_weight = float(occluded_weight)
        self.aux_weight = float(aux_weight)

    def term(self, heatmaps: torch.Tensor, keypoints: torch.Tensor, stride: int) -> torch.Tensor:
        """The loss of one (B, K, h, w) heatmap output at ``stride`` for (B, [1,] K, 3) keypoints
        in input pixels."""
        h, w = heatmaps.shape[-2:]
        targets, weights = keypoint_targets(keypoints, (h, w), stride, self.sigma, self.occluded_weight)
        if targets.shape[1] != heatmaps.shape[1]:
            raise ValueError(f"the model predicts {heatmaps.shape[1]} joints but the keypoints have {targets.shape[1]}")
        squared = (heatmaps.float() - targets).square().sum(dim=(-2, -1))  # (B, K)
        return torch.sqrt((squared * weights).sum(dim=1) + 1e-12).mean()

    def forward(self, output: ModelOutput, keypoints: torch.Tensor, stride: int) -> dict[str, torch.Tensor]:
        """``{"loss": total, "main": final heatmaps' loss, "aux": summed aux losses}``; every heatmap
        output is at the model's output ``stride`` (aux outputs are resized to the final size)."""
        if output.heatmaps is None:
            raise ValueError("the model returned no heatmaps to supervise")
        main = self.term(output.heatmaps, keypoints, stride)
        aux = main.new_zeros(())
        for heatmaps in output.aux_heatmaps:
            aux = aux + self.term(heatmaps, keypoints, stride)
        return {"loss": main + self.aux_weight * aux, "main": main, "aux": aux}


__all__ = ["HeatmapLoss"]
