"""What every model returns (one typed output, whatever the architecture) and what it may take
beyond the image (named extra inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """A model's prediction for a batch.

    logits: (B, C, h, w) the final parsing logits, at the model's output stride (the loss and
        test-time code upsample them to the size they need); None for a pose-only model.
    aux_logits: further parsing logits supervised during training (deep supervision: one per
        input scale, per stage, ...), each (B, C, h_i, w_i). Ignored at inference.
    supervise_logits: whether ``logits`` is itself an output to supervise. False where it only
        combines supervised outputs for inference (JPPNet averages its stages' parsing maps);
        the loss then supervises ``aux_logits`` alone.
    heatmaps: (B, K, h, w) the final joint heatmaps at the model's output stride, one channel
        per joint of the joint schema; None for a parsing-only model. Always supervised.
    aux_heatmaps: further heatmaps supervised during training (per stage, per scale).
    extras: anything else a method returns (attention weights over scales, ...), by name,
        each a tensor with batch first.
    """

    logits: torch.Tensor | None = None
    aux_logits: list[torch.Tensor] = field(default_factory=list)
    supervise_logits: bool = True
    heatmaps: torch.Tensor | None = None
    aux_heatmaps: list[torch.Tensor] = field(default_factory=list)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraInput:
    """A per-pixel input a model takes by name beside the image (a WSHP prior, ...).

    channels: its number of channels (it is (B, channels, H, W) at the image's size).
    class_indexed: its channels follow the label schema (one per class), so mirroring the
        input swaps its left/right channels as it swaps logits.
    """

    channels: int
    class_indexed: bool = False


def extra_inputs_of(model: object) -> dict[str, ExtraInput]:
    """The named inputs a model takes beyond the image (its ``extra_inputs``; none for most)."""
    return dict(getattr(getattr(model, "_orig_mod", model), "extra_inputs", {}) or {})
