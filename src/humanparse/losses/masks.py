"""WSHP's refinement loss (Eq. 6): L1 between the network's per-class maps and the label's masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX
from .base import Loss, LossContext
from .cross_entropy import batch_label, upsample_to


class MaskL1Loss(Loss):
    """mean |sigmoid(logits) - one-hot(label)| over classes and labelled pixels (255 ignored), the
    logits upsampled to the label's size. Config name: ``mask_l1``."""

    needs = "parsing"
    log_name = "mask_l1"

    def __init__(self, context: LossContext | None = None, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        if output.logits is None:
            raise ValueError("the model returned no parsing maps to supervise")
        label = batch_label(batch)
        maps = torch.sigmoid(upsample_to(output.logits.float(), label.shape[-2:]))
        valid = label != self.ignore_index
        masks = F.one_hot(torch.where(valid, label, 0), maps.shape[1]).movedim(-1, 1).float()
        per_pixel = (maps - masks).abs().mean(dim=1)
        return {"loss": (per_pixel * valid).sum() / valid.sum().clamp_min(1)}


__all__ = ["MaskL1Loss"]
