"""What every model returns: one typed output, whatever the architecture."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """A model's prediction for a batch.

    logits: (B, C, h, w) the final parsing logits, at the model's output stride (the loss and
        test-time code upsample them to the size they need).
    aux_logits: further parsing logits supervised during training (deep supervision: one per
        input scale, per stage, ...), each (B, C, h_i, w_i). Ignored at inference.
    extras: anything else a method returns (attention weights over scales, heatmaps, ...), by
        name, each a tensor with batch first.
    """

    logits: torch.Tensor
    aux_logits: list[torch.Tensor] = field(default_factory=list)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
