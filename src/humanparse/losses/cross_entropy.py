"""Pixel-wise cross-entropy for parsing, over the final and every deeply supervised output."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX


def upsample_to(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) logits to ``size`` (no-op when already there)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


class ParsingLoss(nn.Module):
    """Cross-entropy of the logits, upsampled to the label's size, against the label (255 ignored).

    ``aux_weight`` weighs each of ``ModelOutput.aux_logits`` (one per input scale or stage);
    the total is ``CE(logits) + aux_weight * sum(CE(aux))``. The loss is computed in float32
    whatever the autocast precision.
    """

    def __init__(self, aux_weight: float = 1.0, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.aux_weight = float(aux_weight)
        self.ignore_index = ignore_index

    def term(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = upsample_to(logits.float(), label.shape[-2:])
        return F.cross_entropy(logits, label, ignore_index=self.ignore_index)

    def forward(self, output: ModelOutput, label: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": total, "main": CE of the final logits, "aux": summed aux CE}``.

        ``main`` is zero when the output says its logits are not supervised themselves
        (``ModelOutput.supervise_logits``, e.g. JPPNet's average over stages); every aux output
        then weighs 1, whatever ``aux_weight`` says.
        """
        if output.logits is None and not output.aux_logits:
            raise ValueError("the model returned no parsing logits to supervise")
        main = label.new_zeros((), dtype=torch.float32)
        supervise_main = output.logits is not None and output.supervise_logits
        if supervise_main:
            main = self.term(output.logits, label)
        # Without supervised logits the aux outputs are the main supervision: each weighs 1.
        aux_weight = self.aux_weight if supervise_main else 1.0
        aux = main.new_zeros(())
        if output.aux_logits and aux_weight:
            for logits in output.aux_logits:
                aux = aux + self.term(logits, label)
        return {"loss": main + aux_weight * aux, "main": main, "aux": aux}
