"""SS-NAN: self-supervised neural aggregation networks (Zhao et al., CVPR 2017 workshops).

A Share-Net runs one network (backbone + dense classifier, weights shared) over several
rescaled copies of the input; each scale's class score map x^s is resized bilinearly to a
common grid, the scale-1.0 output's (the finest scale's for the paper's 0.5, 0.75, 1.0), and
the adaptive neural aggregation module weighs them per pixel (Eq. 2-3):

    a^s = conv_3x3(ReLU(conv_3x3(x^s)))            one logit map per scale
    w^s = exp(a^s) / sum_s' exp(a^s')              softmax over the scales, per pixel
    r   = sum_s w^s * x^s                          the weights are shared by all classes

Scoring: the paper's module is two convolutions, 512 x 3x3 then N_S x 3x3, over "the multi-scale
probability maps", and it claims to take any number of scales in any order. A second conv with
N_S output channels over the concatenated maps would fix the number of scales and tie each output
to an input position, so the claim holds only if the same two convolutions score each scale's map
on its own and the N_S channels are the N_S scores stacked. That is what is built here: the
module's parameters do not depend on the scales at all, a network trained on three scales runs on
any other set, and permuting the scales permutes the weights with them, leaving ``r`` unchanged.
The price: each scale's score sees only its own map, never the others', so which scale to trust
is read from how each map looks (sharp or smooth, confident or not) rather than from a
comparison. The literal reading is the "concat" aggregation (:class:`ConcatScorer`): the two
convolutions read the scales' maps concatenated (S·C -> 512 -> N_S), so each score compares
all scales, but the module's first layer has S·C inputs and its last S outputs, each tied to
one position: it fixes the number and the order of the scales it was built for.

x^s is the score map before the softmax (the paper's final softmax is taken over the aggregate,
which only makes sense for scores), and it is both what the module scores and what it sums.

Deep supervision: every scale's score map (resized to the common grid) is returned in
``aux_logits`` and supervised like the aggregate; the self-supervised joint loss (Eq. 4) is
the structure-sensitive loss of :mod:`humanparse.losses.structure`, switched on by
``train.structure_loss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import one_of, positive_int
from ..nn.aspp import init_classifier
from .deeplab import DeepLab
from .multiscale import MultiScaleInputs, check_scales, run_scales
from .output import ModelOutput

AGGREGATIONS = ("neural", "concat", "average", "max")


class _TwoConvScorer(nn.Module):
    """Eq. 3's scoring layers: a 3x3 conv (``in_channels`` -> ``channels``), ReLU, a 3x3 conv
    (-> ``out_channels``), its last layer starting near zero (near-equal weights over the scales)."""

    def __init__(self, in_channels: int, channels: int, out_channels: int) -> None:
        super().__init__()
        self.hidden = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.score = nn.Conv2d(channels, out_channels, 3, padding=1)
        nn.init.kaiming_normal_(self.hidden.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.hidden.bias)
        init_classifier(self.score)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.relu(self.hidden(x)))


class ScaleScorer(_TwoConvScorer):
    """Eq. 3's a^s: the same two 3x3 convolutions (C -> ``channels`` -> 1, ReLU between) on each
    scale's (B, C, h, w) score map; the scales' logits stacked to (B, S, h, w)."""

    def __init__(self, num_classes: int, channels: int = 512) -> None:
        super().__init__(num_classes, channels, 1)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        # One batched pass over all scales: concatenated along the batch, then (S * B, 1, h, w)
        # -> (B, S, h, w) by a reshape (a split would not export with a dynamic batch).
        scores = self.scores(torch.cat(list(maps), dim=0))
        return scores.reshape(len(maps), -1, *scores.shape[-2:]).transpose(0, 1)


class ConcatScorer(_TwoConvScorer):
    """Eq. 3's a^s read literally: two 3x3 convolutions over the scales' (B, C, h, w) score maps
    concatenated in the order of the scales, S·C -> ``channels`` (ReLU) -> S, one logit map per
    scale, (B, S, h, w). Built for ``num_scales`` scales: their number and order are fixed."""

    def __init__(self, num_classes: int, num_scales: int, channels: int = 512) -> None:
        super().__init__(num_scales * num_classes, channels, num_scales)
        self.num_scales = num_scales

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.scores(torch.cat(list(maps), dim=1))


class SSNAN(MultiScaleInputs, nn.Module):
    """Share-Net over input scales with adaptive neural aggregation and deep supervision.

    Args:
        num_classes: number of parsing classes.
        scales: the input scales (the paper's 0.5, 0.75, 1.0 of a 321x321 input); any number,
            any order; :meth:`set_scales` changes them after training (with "concat", only to
            as many scales, each taking the place of the one it replaces).
        aggregation: "neural" (the paper's Eq. 2-3, the same scorer on every scale), "concat"
            (Eq. 3's layers read literally, over the concatenated maps: number and order of
            the scales fixed), or the pooling baselines "average" and "max" (element-wise
            over the scales' score maps).
        aggregation_channels: width of the scoring module's first conv (512 in the paper).
        deep_supervision: return every scale's score map for supervision (the paper: yes).
        **deeplab: the Share-Net's options, as :class:`DeepLab` takes them; here ``head``
            defaults to "dense" (the paper's single 3x3 classifier) and ``output_stride`` to 8.

    forward(x) returns :class:`ModelOutput` with
        logits: the aggregate r, (B, C, h, w) at the scale-1.0 output size
            (ceil(H / output_stride), ceil(W / output_stride));
        aux_logits: each scale's score map resized to (h, w), in the order of ``scales``
            (empty without deep supervision);
        extras["scale_weights"]: w, (B, len(scales), h, w), summing to 1 per pixel ("neural" and
            "concat").

    Parameter names: the shared network is ``backbone.*`` and ``head.*`` exactly as in
    :class:`DeepLab`; the scoring module is ``aggregation.*`` and, for "neural", has the same
    shapes for any scales ("concat": its shapes depend on their number).
    """

    def __init__(
        self,
        num_classes: int,
        scales: Sequence[float] = (0.5, 0.75, 1.0),
        aggregation: str = "neural",
        aggregation_channels: int = 512,
        deep_supervision: bool = True,
        **deeplab: Any,
    ) -> None:
        checked_scales = check_scales(scales)  # checked before the (possibly large) network is built
        one_of("aggregation", aggregation, AGGREGATIONS)
        positive_int("aggregation_channels", aggregation_channels)
        if not isinstance(deep_supervision, bool):
            raise ValueError(f"deep_supervision must be true or false, not {deep_supervision!r}")
        super().__init__()
        shared = DeepLab(num_classes, **{"head": "dense", "output_stride": 8, **deeplab})
        # The Share-Net's parts are this model's own (names backbone.*, head.*, as DeepLab's).
        self.backbone, self.head = shared.backbone, shared.head
        self.num_classes, self.output_stride = num_classes, shared.output_stride
        self.set_scales(checked_scales)
        self.aggregation_name = aggregation
        self.deep_supervision = deep_supervision
        self.aggregation: nn.Module | None = None
        if aggregation == "neural":
            self.aggregation = ScaleScorer(num_classes, aggregation_channels)
        elif aggregation == "concat":
            self.aggregation = ConcatScorer(num_classes, len(self.scales), aggregation_channels)

    features_and_logits = DeepLab.features_and_logits

    def set_scales(self, scales: Sequence[float]) -> None:
        """New input scales ("concat": as many as it was built for, taken in order)."""
        checked = check_scales(scales)
        if getattr(self, "aggregation_name", None) == "concat" and len(checked) != len(self.scales):
            raise ValueError(
                f"aggregation 'concat' was built for {len(self.scales)} scales {list(self.scales)} and reads "
                f"their maps concatenated in that order: it cannot run on {len(checked)} ({list(checked)}); "
                "the 'neural' aggregation takes any number of scales"
            )
        super().set_scales(checked)

    @property
    def predicts_scale_weights(self) -> bool:
        return self.aggregation is not None

    def _scale_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.features_and_logits(x)[1]]

    def aggregate(self, logits: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The aggregate of the scales' (B, C, h, w) score maps and, for "neural" and "concat",
        the (B, S, h, w) weights it used."""
        stacked = torch.stack(list(logits), dim=1)  # (B, S, C, h, w)
        if self.aggregation is None:
            merged = stacked.mean(dim=1) if self.aggregation_name == "average" else stacked.amax(dim=1)
            return merged, None
        weights = torch.softmax(self.aggregation(logits), dim=1)
        return (stacked * weights.unsqueeze(2)).sum(dim=1), weights

    def forward(self, x: torch.Tensor) -> ModelOutput:
        per_scale = run_scales(self._scale_logits, x, self.scales, self._scale_fractions, self.output_stride)
        logits = [maps[0] for maps in per_scale]
        merged, weights = self.aggregate(logits)
        extras = {} if weights is None else {"scale_weights": weights}
        return ModelOutput(logits=merged, aux_logits=logits if self.deep_supervision else [], extras=extras)


__all__ = ["AGGREGATIONS", "SSNAN", "ConcatScorer", "ScaleScorer"]
