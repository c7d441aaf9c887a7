"""Which pseudo-labelled pixels to trust: HIPN's noise identification.

Two criteria mark a pixel noisy (Liu et al., AAAI 2022, "Noisy label identification"):

1. **Uncertainty.** The paper measures certainty as a KL divergence between the predicted
   distribution p and "its sharpest counterpart", the one-hot δ at argmax p, and claims it
   separates two pixels with the same highest probability but different spreads (its Fig. 4).
   Read literally neither direction works: KL(δ ‖ p) = -log p_max depends on p_max alone, and
   KL(p ‖ δ) is infinite. Taken here, as docs/hipn.md explains: KL(p ‖ δ_ε), δ_ε putting
   1 - (c - 1)ε on argmax p and ε on every other class,

       KL = Σ_k p_k log p_k - p_max log(1 - (c - 1)ε) - (1 - p_max) log ε,

   negative entropy plus a term in 1 - p_max, so the spread of the rest counts (tested). A
   pixel is noisy where its divergence is above the mean over its image (the paper's
   per-image threshold).
2. **Inconsistency across levels.** A pixel is noisy where the predicted part does not lie
   in the predicted coarse class at some level of the hierarchy (an upper-body part where the
   halves say lower body; a part where the full body says background).

Noisy = either. The baseline of the paper's Table 2 (NLNL, Kim et al. 2019) trusts a pixel
where p_max > γ (0.5 by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

DEFAULT_EPSILON = 1e-6
DEFAULT_GAMMA = 0.5
# The rules a pseudo-label dataset can apply; "none" trusts every pixel (noise-blind).
NOISE_RULES = ("certainty_consistency", "certainty", "consistency", "max_probability", "none")


def smoothed_dirac_divergence(probs: torch.Tensor, dim: int = 0, epsilon: float = DEFAULT_EPSILON) -> torch.Tensor:
    """KL(p ‖ δ_ε) per pixel for class probabilities ``probs`` (classes along ``dim``); larger
    is less certain. ``epsilon`` must be below 1 / (c - 1)."""
    c = probs.shape[dim]
    if not 0 < epsilon < 1 / max(c - 1, 1):
        raise ValueError(f"epsilon must be in (0, 1 / (classes - 1)) = (0, {1 / max(c - 1, 1):g}), not {epsilon!r}")
    p = probs.double()
    p_max = p.amax(dim)
    negative_entropy = torch.special.xlogy(p, p).sum(dim)
    divergence = negative_entropy - p_max * math.log(1 - (c - 1) * epsilon) - (1 - p_max) * math.log(epsilon)
    return divergence.to(probs.dtype)


def above_image_mean(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """(H, W) bool: where one image's values exceed their own mean."""
    values = values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    values = values.astype(np.float64)
    return values > values.mean()


def inconsistent(label: np.ndarray, levels: Sequence[np.ndarray], level_parents: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) bool: where the class ``label`` does not lie in the coarse class a level predicts
    (``levels[l]``, coarse ids; ``level_parents[l]`` each class's coarse id at level l)."""
    if len(levels) != len(level_parents):
        raise ValueError(f"{len(levels)} level predictions for a hierarchy of {len(level_parents)} levels")
    out = np.zeros(label.shape, dtype=bool)
    for predicted, parents in zip(levels, level_parents):
        table = np.asarray(parents, dtype=np.int64)
        out |= table[label.astype(np.int64)] != predicted
    return out


def noisy_mask(
    rule: str,
    certainty: np.ndarray | None = None,
    max_probability: np.ndarray | None = None,
    inconsistency: np.ndarray | None = None,
    gamma: float = DEFAULT_GAMMA,
) -> np.ndarray:
    """(H, W) bool noisy pixels of one image by ``rule`` (:data:`NOISE_RULES`), from its
    certainty divergence, its highest probability and its cross-level inconsistency."""
    def need(name: str, value: np.ndarray | None) -> np.ndarray:
        if value is None:
            raise ValueError(f"noise rule {rule!r} needs the pseudo-labels' {name}")
        return value

    if rule == "certainty_consistency":
        return above_image_mean(need("certainty", certainty)) | need("inconsistency", inconsistency)
    if rule == "certainty":
        return above_image_mean(need("certainty", certainty))
    if rule == "consistency":
        return need("inconsistency", inconsistency).astype(bool)
    if rule == "max_probability":
        return np.asarray(need("max_probability", max_probability), dtype=np.float64) <= gamma
    if rule == "none":
        shape = next(v.shape for v in (certainty, max_probability, inconsistency) if v is not None)
        return np.zeros(shape, dtype=bool)
    raise ValueError(f"unknown noise rule {rule!r}; choose one of {', '.join(NOISE_RULES)}")


def identification_counts(noisy: np.ndarray, pseudo: np.ndarray, truth: np.ndarray, ignore: int = 255) -> tuple[int, int]:
    """(pixels called right, pixels scored) of a noise identification against the truth: a call
    is right where a noisy pixel's pseudo-label is wrong or a clean pixel's is right (the
    paper's clean/noisy accuracy); ``ignore`` pixels of the truth are not scored."""
    valid = truth != ignore
    wrong = pseudo != truth
    right = np.where(noisy, wrong, ~wrong) & valid
    return int(right.sum()), int(valid.sum())


__all__ = [
    "DEFAULT_EPSILON", "DEFAULT_GAMMA", "NOISE_RULES", "above_image_mean", "identification_counts", "inconsistent", "noisy_mask",
    "smoothed_dirac_divergence",
]
