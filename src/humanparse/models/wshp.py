"""WSHP's refinement network: the image and its part-level prior in, refined per-class maps out.

Fang et al., CVPR 2018, §3.5-3.6: Ŝ = f_r(I, P), a pix2pix U-Net (:class:`~humanparse.nn.unet.UNet`)
over the image's three channels and the prior's C (one per class of the label schema, a named
extra input, so that it is letterboxed, mirrored with its left/right channels swapped, saved and
exported with the model), trained by L1 between sigmoid(output) and the label's one-hot masks
(Eq. 6: :class:`~humanparse.losses.MaskL1Loss`, pure L1, no GAN). The paper's six body-part
channels with an implicit background become the schema's classes, background included, so the
label is the argmax as for every other parser (the paper's "background below 0.5" is the
background channel winning). Output stride 1.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import check_image_batch, one_of, positive_int
from ..nn.unet import UNet
from .output import ExtraInput, ModelOutput

PRIOR = "prior"
# The prior's probabilities are clamped this far from 0 and 1 before their logits are taken.
PRIOR_EPS = 0.02
SKELETON_CHANNELS = 6  # transfer.priors.SKELETON_CHANNELS: head, torso, upper/lower arm, upper/lower leg


class PriorRefiner(nn.Module):
    """The U-Net over image + prior (``depth`` 8 at 256 x 256 in the paper; ``base_width`` 64)."""

    output_stride = 1

    def __init__(
        self, num_classes: int, depth: int = 8, base_width: int = 64, dropout: float = 0.5, prior: str = "parts",
        prior_residual: bool = False,
    ) -> None:
        """``prior``: "parts", the part-level prior (one channel per class), or "skeleton", the
        skeleton map of the paper's Table 2 (six bone kinds, ``data.priors: {kind: skeleton}``).
        ``prior_residual`` (parts only; not in the paper): the U-Net's output is added to the
        prior's logits, so the network starts from the prior and learns its correction; with the
        plain U-Net, L1 on sigmoid maps can settle on all-background before any part is learnt."""
        super().__init__()
        positive_int("num_classes", num_classes)
        positive_int("base_width", base_width)
        one_of("prior", prior, ("parts", "skeleton"))
        if prior_residual and prior != "parts":
            raise ValueError("prior_residual adds the prior's class maps to the output: it needs prior: parts")
        self.num_classes, self.prior_kind, self.prior_residual = num_classes, prior, bool(prior_residual)
        channels = num_classes if prior == "parts" else SKELETON_CHANNELS
        # A class prior swaps its left/right channels with a mirrored image; a skeleton map has none.
        self.extra_inputs = {PRIOR: ExtraInput(channels, class_indexed=prior == "parts")}
        self.unet = UNet(3 + channels, num_classes, depth=positive_int("depth", depth), base_width=base_width,
                         dropout=dropout)

    @property
    def default_loss(self) -> list[dict[str, Any]]:
        return [{"type": "mask_l1"}]

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> ModelOutput:
        check_image_batch(x)
        channels = self.extra_inputs[PRIOR].channels
        if prior.shape[0] != x.shape[0] or prior.shape[1] != channels or prior.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"the prior must be (B, {channels}, H, W) beside a {tuple(x.shape)} image, "
                             f"got {tuple(prior.shape)}")
        prior = prior.to(x.dtype)
        logits = self.unet(torch.cat([x, prior], dim=1))
        if self.prior_residual:
            logits = logits + torch.logit(prior.clamp(PRIOR_EPS, 1 - PRIOR_EPS))
        return ModelOutput(logits=logits)


__all__ = ["PRIOR", "PriorRefiner"]
