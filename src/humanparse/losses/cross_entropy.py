"""Pixel-wise cross-entropy for parsing, over the final and every deeply supervised output."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX
from .base import Loss, LossContext


def upsample_to(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) logits to ``size`` (no-op when already there)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def batch_label(batch: dict) -> torch.Tensor:
    """The batch's (B, H, W) label map as int64 (loaders send uint8; the losses index with int64)."""
    if batch.get("label") is None:
        raise ValueError("a parsing loss needs labels, and the batch has none")
    return batch["label"].long()


def supervised_logits(output: ModelOutput, aux_weight: float) -> tuple[torch.Tensor | None, float]:
    """The rule every parsing loss follows for deep supervision: the final logits when the
    output says they are supervised (else None), and the weight of each aux output, which is
    1 when the final logits are not supervised (the aux outputs are then the supervision)."""
    supervise_main = output.logits is not None and output.supervise_logits
    return (output.logits if supervise_main else None), (float(aux_weight) if supervise_main else 1.0)


class ParsingLoss(Loss):
    """Cross-entropy of the logits, upsampled to the label's size, against the label (255 ignored).

    ``aux_weight`` weighs each of ``ModelOutput.aux_logits`` (one per input scale or stage);
    the total is ``CE(logits) + aux_weight * sum(CE(aux))``. The loss is computed in float32
    whatever the autocast precision. Config name: ``cross_entropy``.
    """

    needs = "parsing"
    log_name = "parsing"

    def __init__(
        self, context: LossContext | None = None, aux_weight: float = 1.0, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        self.aux_weight = float(aux_weight)
        self.ignore_index = ignore_index

    def term(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = upsample_to(logits.float(), label.shape[-2:])
        return F.cross_entropy(logits, label, ignore_index=self.ignore_index)

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        """``{"loss": total, "main": CE of the final logits, "aux": summed aux CE}``.

        ``main`` is zero when the output says its logits are not supervised themselves
        (``ModelOutput.supervise_logits``, e.g. JPPNet's average over stages); every aux output
        then weighs 1, whatever ``aux_weight`` says.
        """
        if output.logits is None and not output.aux_logits:
            raise ValueError("the model returned no parsing logits to supervise")
        label = batch_label(batch)
        logits, aux_weight = supervised_logits(output, self.aux_weight)
        main = label.new_zeros((), dtype=torch.float32) if logits is None else self.term(logits, label)
        aux = main.new_zeros(())
        if output.aux_logits and aux_weight:
            for aux_logits in output.aux_logits:
                aux = aux + self.term(aux_logits, label)
        return {"loss": main + aux_weight * aux, "main": main, "aux": aux}


__all__ = ["ParsingLoss", "batch_label", "supervised_logits", "upsample_to"]
