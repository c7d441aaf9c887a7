"""The heatmap losses of the pose networks, against Gaussian target heatmaps: JPPNet's L2 norm
(``heatmap_l2``) and the hourglass's mean squared error (``heatmap_mse``, PIL's L^P)."""

from __future__ import annotations

import torch

from ..data.heatmaps import keypoint_targets
from ..models.output import ModelOutput
from .base import Loss, LossContext


class HeatmapLoss(Loss):
    """Per image, the L2 norm of the weighted difference between predicted and target heatmaps,
    averaged over the batch; summed over the final and every deeply supervised heatmap output.

    For image b: ``sqrt(sum_k w_bk * sum_pixels (pred_bk - target_bk)^2)``, JPPNet's L2 loss
    (its gradient has the same size for every image whatever the map size). Targets are
    Gaussians of ``sigma`` input pixels rendered at each output's own stride; ``w_bk`` is 0 for a
    joint that is not annotated (or fell outside the crop), ``occluded_weight`` for one marked
    occluded and 1 for a visible one. A joint without annotation thus never pulls its map
    towards zero. Config name: ``heatmap_l2``; the stride is the model's (from the context).
    """

    needs = "joints"
    log_name = "pose"

    def __init__(
        self,
        context: LossContext | None = None,
        sigma_px: float = 8.0,
        occluded_weight: float = 1.0,
        aux_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if isinstance(sigma_px, bool) or not isinstance(sigma_px, (int, float)) or not sigma_px > 0:
            raise ValueError(f"heatmap sigma_px must be a positive number, not {sigma_px!r}")
        if isinstance(occluded_weight, bool) or not isinstance(occluded_weight, (int, float)) or occluded_weight < 0:
            raise ValueError(f"occluded_weight must be a number >= 0, not {occluded_weight!r}")
        self.stride = int(context.output_stride) if context is not None else 1
        self.sigma = float(sigma_px)
        self.occluded_weight = float(occluded_weight)
        self.aux_weight = float(aux_weight)

    def squared_errors(
        self, heatmaps: torch.Tensor, keypoints: torch.Tensor, stride: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, K, h, w) squared differences from the targets of (B, [1,] K, 3) keypoints in input
        pixels, and the (B, K) joint weights."""
        h, w = heatmaps.shape[-2:]
        targets, weights = keypoint_targets(keypoints, (h, w), stride, self.sigma, self.occluded_weight)
        if targets.shape[1] != heatmaps.shape[1]:
            raise ValueError(f"the model predicts {heatmaps.shape[1]} joints but the keypoints have {targets.shape[1]}")
        return (heatmaps.float() - targets).square(), weights

    def term(self, heatmaps: torch.Tensor, keypoints: torch.Tensor, stride: int) -> torch.Tensor:
        """The loss of one (B, K, h, w) heatmap output at ``stride``."""
        squared, weights = self.squared_errors(heatmaps, keypoints, stride)
        return torch.sqrt((squared.sum(dim=(-2, -1)) * weights).sum(dim=1) + 1e-12).mean()

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        """``{"loss": total, "main": final heatmaps' loss, "aux": summed aux losses}``; every heatmap
        output is at the model's output stride (aux outputs are resized to the final size)."""
        if output.heatmaps is None:
            raise ValueError("the model returned no heatmaps to supervise")
        keypoints = batch.get("keypoints")
        if keypoints is None:
            raise ValueError("the model predicts joints but the batch has no keypoints")
        main = self.term(output.heatmaps, keypoints, self.stride)
        aux = main.new_zeros(())
        for heatmaps in output.aux_heatmaps:
            aux = aux + self.term(heatmaps, keypoints, self.stride)
        return {"loss": main + self.aux_weight * aux, "main": main, "aux": aux}


class HeatmapMSELoss(HeatmapLoss):
    """The mean squared error between predicted and target heatmaps, over images, joints and
    cells, summed over the final and every deeply supervised output (every hourglass stack):
    the hourglass's loss and PIL's L^P. Targets are Gaussians of ``sigma_cells`` output cells
    (1: the hourglass convention, 4 input pixels at stride 4); a joint that is not annotated
    (or fell outside the crop) weighs 0, one marked occluded ``occluded_weight``. Config name:
    ``heatmap_mse``."""

    def __init__(
        self,
        context: LossContext | None = None,
        sigma_cells: float = 1.0,
        occluded_weight: float = 1.0,
        aux_weight: float = 1.0,
    ) -> None:
        if isinstance(sigma_cells, bool) or not isinstance(sigma_cells, (int, float)) or not sigma_cells > 0:
            raise ValueError(f"heatmap sigma_cells must be a positive number, not {sigma_cells!r}")
        stride = int(context.output_stride) if context is not None else 1
        super().__init__(context, sigma_px=float(sigma_cells) * stride, occluded_weight=occluded_weight,
                         aux_weight=aux_weight)

    def term(self, heatmaps: torch.Tensor, keypoints: torch.Tensor, stride: int) -> torch.Tensor:
        squared, weights = self.squared_errors(heatmaps, keypoints, stride)
        return (squared.mean(dim=(-2, -1)) * weights).mean()


__all__ = ["HeatmapLoss", "HeatmapMSELoss"]
