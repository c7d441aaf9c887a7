"""Running one network over rescaled copies of its input (Share-Net, DeepLab's multi-scale inputs).

Used by the models that share weights over input scales (Attention-to-scale, JPPNet, the
pose-only net): the scales are checked once, kept as exact fractions, and every scale's maps
are resized to the scale-1.0 output size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import torch
import torch.nn.functional as F


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """The scales as floats; an error unless they are distinct positive numbers."""
    if (
        isinstance(scales, (str, bytes))
        or not isinstance(scales, Sequence)
        or not scales
        or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in scales
        )
    ):
        raise ValueError(f"scales must be a non-empty list of positive numbers, not {scales!r}")
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales must be distinct, not {scales!r}")
    return tuple(float(s) for s in scales)


def scale_fractions(scales: Sequence[float]) -> tuple[tuple[int, int], ...]:
    """Each scale as (numerator, denominator). Exact fractions make scaled sizes integer
    arithmetic on the input's shape: a float product would be frozen into a constant by
    export/compile."""
    return tuple((f.numerator, f.denominator) for f in (Fraction(s).limit_denominator(1000) for s in scales))


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


# How per-scale maps of one size merge: an elementwise max (DeepLab's MSC) or mean.
FUSIONS = ("max", "mean")


def fuse_scales(maps: Sequence[torch.Tensor], how: str) -> torch.Tensor:
    """The elementwise max or mean (``how``, one of :data:`FUSIONS`) of same-sized maps."""
    fused = maps[0]
    for m in maps[1:]:
        fused = torch.maximum(fused, m) if how == "max" else fused + m
    return fused if how == "max" or len(maps) == 1 else fused / len(maps)


class MultiScaleInputs:
    """The input scales of a network whose weights do not depend on them: they can change after
    training (``eval.network_scales``; the LIP paper tests JPPNet at other scales than it
    trains it, and SS-NAN's aggregation takes any scales)."""

    scales: tuple[float, ...]
    _scale_fractions: tuple[tuple[int, int], ...]

    def set_scales(self, scales: Sequence[float]) -> None:
        self.scales = check_scales(scales)
        self._scale_fractions = scale_fractions(self.scales)


def run_scales(
    run: Callable[[torch.Tensor], Sequence[torch.Tensor]],
    x: torch.Tensor,
    scales: tuple[float, ...],
    fractions: tuple[tuple[int, int], ...],
    output_stride: int,
) -> list[list[torch.Tensor]]:
    """``run`` on every scaled copy of ``x`` (floor(size * scale), as DeepLab makes its
    multi-scale inputs): per scale, in the order of ``scales``, the maps it returns (all of
    one size) resized bilinearly to the scale-1.0 output size (ceil(H / s), ceil(W / s))."""
    height, width = x.shape[-2], x.shape[-1]
    outputs: dict[int, list[torch.Tensor]] = {}
    if 1.0 in scales:
        # The scale-1 output fixes the common size; its actual shape (rather than a formula
        # equal to it) keeps every size a plain function of the input's shape for export.
        unit = scales.index(1.0)
        outputs[unit] = list(run(x))
        out_size = (outputs[unit][-1].shape[-2], outputs[unit][-1].shape[-1])
    else:
        out_size = ((height + output_stride - 1) // output_stride, (width + output_stride - 1) // output_stride)
    for index, (numerator, denominator) in enumerate(fractions):
        if index in outputs:  # the scale-1 pass, already made
            continue
        scaled = resize(x, (height * numerator // denominator, width * numerator // denominator))
        outputs[index] = [resize(m, out_size) for m in run(scaled)]
    return [outputs[i] for i in range(len(scales))]


__all__ = ["FUSIONS", "MultiScaleInputs", "check_scales", "fuse_scales", "resize", "run_scales", "scale_fractions"]
