"""HIPN's noise-tolerant hybrid learning on pseudo-labels: positive learning where the label is
trusted, negative learning where it is noisy.

For a pixel with pseudo-label y and class probabilities p:

- clean (Eq. 3, positive learning): L_PL = -log p_y, the cross-entropy;
- noisy (Eq. 4, negative learning, Kim et al. 2019): a complementary label ŷ drawn uniformly
  from the other c - 1 classes at every call, and L_NL = -log(1 - p_ŷ): "this pixel is not ŷ".

The paper prints Eq. 4 as -Σ ŷ_k (1 - log p_k), which is minimised by driving log p_ŷ to -∞:
unbounded below, and it pushes p_ŷ *up*. NLNL's loss, used here, is bounded below by 0 and
pushes p_ŷ down (both tested). L = α L_PL + (1 - α) L_NL (Eq. 5, α = 0.5), each the mean over
its own pixels (clean for PL, noisy for NL; a term with no pixels is 0). The noisy pixels are
the batch's ``maps["noisy"]`` (the pseudo-label dataset's, by its noise rule); without that map
every pixel is clean and the loss is α times the cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX
from .base import Loss, LossContext
from .cross_entropy import batch_label, supervised_logits, upsample_to

NOISY_MAP = "noisy"


def complementary_labels(label: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A class other than ``label`` for every pixel, uniform over the other ``num_classes - 1``."""
    if num_classes < 2:
        raise ValueError("negative learning needs at least two classes")
    shift = torch.randint(1, num_classes, label.shape, device=label.device, generator=generator)
    return (label + shift) % num_classes


def negative_log_complement(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """-log(1 - p_ŷ) per pixel for (B, C, H, W) logits and (B, H, W) classes ŷ, computed as
    logsumexp over all classes minus logsumexp over the others (no 1 - p cancellation)."""
    chosen = F.one_hot(classes, logits.shape[1]).movedim(-1, 1).bool()
    others = logits.masked_fill(chosen, float("-inf"))
    return torch.logsumexp(logits, dim=1) - torch.logsumexp(others, dim=1)


class NoiseTolerantLoss(Loss):
    """α · CE on clean pixels + (1 - α) · NL on noisy ones (see the module docstring).

    ``alpha``: Eq. 5's weight (0.5 in the paper; 0.5-0.7 comparable). ``aux_weight`` weighs
    each deeply supervised output as in ``cross_entropy``. Config name: ``noise_tolerant``;
    route it to the pseudo-labelled samples with ``source: pseudo``.
    """

    needs = "parsing"
    log_name = "hybrid"
    logged = {"positive": "hybrid_positive", "negative": "hybrid_negative", "noisy_fraction": "noisy_fraction"}

    def __init__(
        self, context: LossContext | None = None, alpha: float = 0.5, aux_weight: float = 1.0,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], not {alpha!r}")
        self.alpha, self.aux_weight, self.ignore_index = float(alpha), float(aux_weight), ignore_index

    def terms(self, logits: torch.Tensor, label: torch.Tensor, noisy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = upsample_to(logits.float(), label.shape[-2:])
        valid = label != self.ignore_index
        safe = torch.where(valid, label, torch.zeros_like(label))
        positive = F.cross_entropy(logits, safe, reduction="none")
        negative = negative_log_complement(logits, complementary_labels(safe, logits.shape[1]))
        clean, noise = valid & ~noisy, valid & noisy

        def mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
            return (values * where).sum() / where.sum().clamp_min(1)

        return mean(positive, clean), mean(negative, noise)

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        if output.logits is None and not output.aux_logits:
            raise ValueError("the model returned no parsing logits to supervise")
        label = batch_label(batch)
        noisy_map = (batch.get("maps") or {}).get(NOISY_MAP)
        noisy = noisy_map.bool() if noisy_map is not None else torch.zeros_like(label, dtype=torch.bool)
        logits, aux_weight = supervised_logits(output, self.aux_weight)
        outputs = ([(1.0, logits)] if logits is not None else []) + [(aux_weight, a) for a in output.aux_logits]
        positive = negative = label.new_zeros((), dtype=torch.float32)
        for weight, out in outputs:
            if weight:
                pos, neg = self.terms(out, label, noisy)
                positive, negative = positive + weight * pos, negative + weight * neg
        loss = self.alpha * positive + (1 - self.alpha) * negative
        valid = label != self.ignore_index
        fraction = (noisy & valid).sum() / valid.sum().clamp_min(1)
        return {"loss": loss, "positive": positive.detach(), "negative": negative.detach(),
                "noisy_fraction": fraction.detach().float()}


__all__ = ["NOISY_MAP", "NoiseTolerantLoss", "complementary_labels", "negative_log_complement"]
