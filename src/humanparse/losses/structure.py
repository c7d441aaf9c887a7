"""The self-supervised structure-sensitive loss of SS-JPPNet (LIP paper, Section 5).

Pseudo-joints are the centroids of groups of parsing classes (head, upper body, ..., the
schema's ``groups``), taken from the ground truth and from the prediction's argmax, each
rendered as a Gaussian heatmap at the prediction's stride. Per image ``i``

    L_joint_i     = 1 / (2 N_i) * sum_g || C_pred_ig - C_gt_ig ||^2       (paper eq. 1)
    L_structure_i = L_joint_i * L_parsing_i                                (paper eq. 2)

with ``N_i`` the number of groups present in the ground truth of image ``i`` (the body's
pseudo-joints; at least 1). A group present on one side only is compared with an all-zero
map, so a part the prediction invents costs as much as one it misses and ``L_parsing_i`` image ``i``'s own pixel-wise
cross-entropy. The batch loss is the mean over images.

How the factor enters the gradient: ``L_joint_i`` comes from an argmax and label centroids,
so it is piecewise constant in the parameters; it is computed under ``torch.no_grad`` and
the gradient of the loss is ``L_joint_i`` times the gradient of image ``i``'s cross-entropy
(divided by the batch size). It is not the plain cross-entropy gradient, and every image
has its own factor: centroids are sums over the rows and columns of one image only, never
across the images of a batch.

Everything is torch, batched and free of host synchronisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..data.heatmaps import render_gaussians
from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX, LabelSchema
from .base import Loss, LossContext
from .cross_entropy import batch_label, supervised_logits, upsample_to

Groups = Sequence[tuple[str, Sequence[int]]]


def group_table(groups: Groups) -> torch.Tensor:
    """(V + 1, G) float32 membership of class id v in group g, V = the largest id + 1; the last row
    (any other value: ignore, out of range) is all zero."""
    if not groups:
        raise ValueError("at least one pseudo-joint group is needed")
    ids = [int(c) for _, members in groups for c in members]
    if not ids or any(c < 0 for c in ids):
        raise ValueError(f"group class ids must be non-negative and not all groups empty, got {sorted(set(ids))}")
    table = torch.zeros(max(ids) + 2, len(groups), dtype=torch.float32)
    for g, (_, members) in enumerate(groups):
        for c in members:
            table[int(c), g] = 1.0
    return table


def group_centres(
    label_map: torch.Tensor, groups: Groups | torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image centroid of each group's pixels.

    label_map: (B, h, w) integer class ids; groups: (name, class ids) pairs as in
    ``LabelSchema.groups``, or their :func:`group_table`. Sums run over h and w of each image
    only; ``ignore_index`` pixels and values outside every group never count.

    Returns centres (B, G, 2) float32 (x = column, y = row, in the grid of ``label_map``;
    0 where not present) and present (B, G) bool (the group has at least one pixel).
    """
    if label_map.ndim != 3:
        raise ValueError(f"label_map must be (B, h, w), got {tuple(label_map.shape)}")
    table = groups if isinstance(groups, torch.Tensor) else group_table(groups)
    table = table.to(device=label_map.device, dtype=torch.float32)
    other = table.shape[0] - 1
    label = label_map.long()
    known = (label >= 0) & (label < other) & (label != ignore_index)
    mask = table[torch.where(known, label, torch.full_like(label, other))]  # (B, h, w, G)
    _, h, w = label.shape
    ys = torch.arange(h, dtype=torch.float32, device=label.device)
    xs = torch.arange(w, dtype=torch.float32, device=label.device)
    count = mask.sum(dim=(1, 2))  # (B, G): sums over one image's pixels only
    sum_x = torch.einsum("bhwg,w->bg", mask, xs)
    sum_y = torch.einsum("bhwg,h->bg", mask, ys)
    present = count > 0
    centres = torch.stack([sum_x, sum_y], dim=-1) / count.clamp(min=1.0)[..., None]
    return centres, present


def downsample_label(label: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(B, H, W) label -> (B, h, w) by the label value at each cell's centre.

    With ``s = H / h``, cell ``j`` is centred on input pixel ``s * j + (s - 1) / 2``; the pixel
    taken is the one holding that point, ``floor((j + 0.5) * s)`` (halfway points go to the
    later pixel). That is ``F.interpolate(mode="nearest-exact")``, computed here in exact
    integer arithmetic so that it works on integer tensors of any device.
    """
    if label.ndim != 3:
        raise ValueError(f"label must be (B, H, W), got {tuple(label.shape)}")
    big_h, big_w = label.shape[-2:]
    h, w = int(size[0]), int(size[1])
    if (h, w) == (big_h, big_w):
        return label
    rows = ((2 * torch.arange(h, device=label.device) + 1) * big_h) // (2 * h)
    cols = ((2 * torch.arange(w, device=label.device) + 1) * big_w) // (2 * w)
    return label.index_select(1, rows.clamp(max=big_h - 1)).index_select(2, cols.clamp(max=big_w - 1))


FORMS = ("heatmaps", "coordinates")


def joint_structure_loss(
    logits: torch.Tensor,
    label: torch.Tensor,
    groups: Groups | torch.Tensor,
    sigma: float = 1.0,
    ignore_index: int = IGNORE_INDEX,
    form: str = "heatmaps",
) -> torch.Tensor:
    """(B,) L_joint per image, detached.

    logits: (B, C, h, w) the prediction at its own stride; label: (B, H, W) at input
    resolution, downsampled to (h, w) by :func:`downsample_label`. Cells that are ignored in
    the downsampled label (padding, unlabelled regions) count for neither side's centres.
    groups: as in :func:`group_centres`.

    form "heatmaps" (SS-JPPNet, LIP paper eq. 1): the centres rendered as Gaussians of
    standard deviation ``sigma`` grid cells (peak 1), ``sum_g ||map_pred - map_gt||^2 / (2 N)``
    with N the groups present in the ground truth (at least 1); a group on one side only is
    compared with an all-zero map.

    form "coordinates" (SS-NAN eq. 4): the centres' coordinates divided by the grid's width and
    height (so each lies in [0, 1]^2 and a squared distance is at most 2), ``sum_g d_g^2 / (2 N)``
    with N fixed to the number of groups (the paper's N_joint = 9 for LIP); a group present on
    one side only is charged 2, the squared diagonal of the unit square, and one absent on
    both sides 0. Without the normalisation, pixel coordinates would scale the cross-entropy
    by factors of 10^2 to 10^4; with it the factor stays of order one.
    """
    if logits.ndim != 4 or label.ndim != 3 or logits.shape[0] != label.shape[0]:
        raise ValueError(
            f"logits (B, C, h, w) and label (B, H, W) expected, got {tuple(logits.shape)}, {tuple(label.shape)}"
        )
    if form not in FORMS:
        raise ValueError(f"unknown structure loss form {form!r}; choose one of {', '.join(FORMS)}")
    table = groups if isinstance(groups, torch.Tensor) else group_table(groups)
    with torch.no_grad():
        size = tuple(logits.shape[-2:])
        small_label = downsample_label(label, size)
        gt_centres, gt_present = group_centres(small_label, table, ignore_index)
        # The prediction's centres over the same cells as the truth's: not where the label is ignored.
        predicted = logits.detach().float().argmax(dim=1)
        predicted = torch.where(small_label == ignore_index, torch.full_like(predicted, ignore_index), predicted)
        pred_centres, pred_present = group_centres(predicted, table, ignore_index)
        if form == "coordinates":
            scale = pred_centres.new_tensor([max(size[1], 1), max(size[0], 1)])
            distance = ((pred_centres - gt_centres) / scale).square().sum(dim=-1)  # (B, G)
            one_sided = gt_present != pred_present
            both = gt_present & pred_present
            squared = torch.where(both, distance, torch.where(one_sided, torch.full_like(distance, 2.0), 0.0))
            return squared.sum(dim=1) / (2.0 * table.shape[1])
        gt_maps = render_gaussians(gt_centres, gt_present, size, sigma)
        pred_maps = render_gaussians(pred_centres, pred_present, size, sigma)
        squared = (pred_maps - gt_maps).square().sum(dim=(1, 2, 3))  # (B,)
        # N: the pseudo-joints of the body in the image (9 for a full LIP body), from the truth.
        body_joints = gt_present.sum(dim=1).clamp(min=1).to(squared.dtype)
        return squared / (2.0 * body_joints)


def per_image_cross_entropy(
    logits: torch.Tensor, label: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """(B,) each image's mean cross-entropy over its non-ignored pixels (0 where it has none).

    The logits are upsampled bilinearly to the label's size in float32, as in ``ParsingLoss``.
    """
    logits = upsample_to(logits.float(), label.shape[-2:])
    pixel = F.cross_entropy(logits, label, ignore_index=ignore_index, reduction="none")  # (B, H, W), 0 at ignore
    valid = (label != ignore_index).sum(dim=(1, 2)).clamp(min=1)
    return pixel.sum(dim=(1, 2)) / valid


class StructureSensitiveLoss(Loss):
    """SS-JPPNet loss: each image's cross-entropy weighted by its joint structure loss.

    By default the factor ``L_joint_i`` is computed once per batch from the final prediction,
    the one inference uses (``output.logits``, even where it only combines supervised outputs
    as JPPNet's stage average does; the last of ``output.aux_logits`` for a model without it),
    and weighs image ``i``'s cross-entropy of every supervised output:

        total_i = L_joint_i * (CE_main_i + aux_weight * sum_k CE_aux_k_i)

    With ``per_output`` every supervised output is weighted by the factor of its own
    prediction instead, as SS-NAN puts its loss (Eq. 4) on each scale's output and on the
    aggregate: total_i = L_joint(main)_i * CE_main_i + aux_weight * sum_k L_joint(aux_k)_i * CE_aux_k_i.

    CE_main counts only where ``output.supervise_logits``; where it does not, the aux outputs
    are the model's main supervision and each is weighted 1, as in :class:`ParsingLoss`. The
    factors are constants in the gradient (see the module docstring). ``sigma_cells`` is the
    Gaussians' standard deviation in grid cells of the prediction that gives the factor;
    ``form`` is "heatmaps" (SS-JPPNet's Eq. 1) or "coordinates" (SS-NAN's Eq. 4), see
    :func:`joint_structure_loss`. Config name: ``structure_sensitive``.
    """

    needs = "parsing"
    log_name = "parsing"
    logged = {"joint": "structure_factor"}

    def __init__(
        self,
        context: LossContext | LabelSchema | None = None,
        sigma_cells: float = 1.0,
        aux_weight: float = 1.0,
        per_output: bool = False,
        form: str = "heatmaps",
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        schema = context.label_schema if isinstance(context, LossContext) else context
        if schema is None:
            raise ValueError("the structure-sensitive loss needs the data's label schema")
        if not schema.groups:
            raise ValueError(
                f"label schema {schema.name!r} defines no pseudo-joint groups; the structure-sensitive loss "
                "needs them (LabelSchema.groups)"
            )
        if isinstance(sigma_cells, bool) or not isinstance(sigma_cells, (int, float)) or not sigma_cells > 0:
            raise ValueError(f"sigma_cells must be a positive number, not {sigma_cells!r}")
        if form not in FORMS:
            raise ValueError(f"unknown structure loss form {form!r}; choose one of {', '.join(FORMS)}")
        if not isinstance(per_output, bool):
            raise ValueError(f"per_output must be true or false, not {per_output!r}")
        self.groups: tuple[tuple[str, tuple[int, ...]], ...] = tuple(schema.groups)
        self.register_buffer("group_table", group_table(self.groups), persistent=False)
        self.sigma = float(sigma_cells)
        self.form = form
        self.aux_weight = float(aux_weight)
        self.ignore_index = ignore_index
        self.per_output = bool(per_output)

    def joint(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """(B,) L_joint of ``logits`` against ``label``, detached."""
        return joint_structure_loss(logits, label, self.group_table, self.sigma, self.ignore_index, self.form)

    def per_image(self, logits: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) L_joint (detached) and (B,) cross-entropy of one output; the loss term is their product."""
        return self.joint(logits, label), per_image_cross_entropy(logits, label, self.ignore_index)

    @staticmethod
    def structure_logits(output: ModelOutput) -> torch.Tensor:
        """The prediction the factor is computed from: the one inference uses."""
        if output.logits is not None:
            return output.logits
        if output.aux_logits:
            return output.aux_logits[-1]
        raise ValueError("the model output has no parsing logits to supervise")

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        """``{"loss", "main", "aux", "joint", "parsing"}``.

        loss = main + aux_weight * aux, where main = mean_i L_joint_i * CE_main_i (0 if the logits
        are not supervised) and aux = mean_i sum_k L_joint_i * CE_aux_k_i (each output's own
        L_joint with ``per_output``); joint is the batch mean of the final prediction's L_joint
        and parsing the batch mean of the unweighted CE_main_i + aux_weight * sum_k CE_aux_k_i
        (both detached, for logging).
        """
        label = batch_label(batch)
        main_logits, aux_weight = supervised_logits(output, self.aux_weight)
        use_aux = bool(output.aux_logits) and aux_weight != 0.0
        if main_logits is None and not use_aux:
            raise ValueError("the model output has no supervised parsing logits")
        factor = self.joint(self.structure_logits(output), label)  # (B,), no grad
        zeros = factor.new_zeros(factor.shape)
        ce_main = zeros if main_logits is None else per_image_cross_entropy(main_logits, label, self.ignore_index)
        ce_aux = weighted_aux = zeros
        if use_aux:
            for logits in output.aux_logits:
                ce = per_image_cross_entropy(logits, label, self.ignore_index)
                ce_aux = ce_aux + ce
                weighted_aux = weighted_aux + (self.joint(logits, label) if self.per_output else factor) * ce
        main = (factor * ce_main).mean()
        aux = weighted_aux.mean()
        plain = ce_main + aux_weight * ce_aux
        return {
            "loss": main + aux_weight * aux,
            "main": main,
            "aux": aux,
            "joint": factor.mean(),
            "parsing": plain.detach().mean(),
        }


__all__ = [
    "FORMS", "StructureSensitiveLoss", "downsample_label", "group_centres", "group_table", "joint_structure_loss",
    "per_image_cross_entropy",
]
