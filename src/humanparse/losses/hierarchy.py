"""HIPN's attention supervision: every NIP map against its node's virtual category.

A node of the hierarchy (full body, upper body, a part, ...) covers a set of classes; its
*virtual category* mask is 1 where the label is one of them, 0 elsewhere, and 255 stays
ignored. Each NIP module's two-way (background, foreground) logits are trained against that
mask by cross-entropy, at every stage.

The paper gives no weights ("use 1"). The term is the mean over stages, nodes and pixels, so
that its size does not grow with the number of classes: summed, CCP's 61 nodes over three
stages would outweigh the parsing loss 183 to 1. The maps are scored on the model's output
grid, the label sampled there by nearest neighbour: there are stages x nodes of them, and
upsampling each to the label's size would cost that many full-size maps for a two-way
decision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.output import ModelOutput
from ..schemas import IGNORE_INDEX
from ..schemas.hierarchy import hierarchy_tree, schema_tree_spec
from .base import Loss, LossContext
from .cross_entropy import batch_label

NODE_LOGITS = "node_logits"


def label_on_grid(label: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) class ids sampled at a (h, w) grid by nearest neighbour (no-op at that size)."""
    if tuple(label.shape[-2:]) == tuple(size):
        return label
    return F.interpolate(label[:, None].float(), size=size, mode="nearest")[:, 0].long()


def virtual_masks(label: torch.Tensor, table: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(B, N, H, W) 0/1 masks of the N nodes of ``table`` ((N, num_classes) membership) for a
    (B, H, W) label; ``ignore_index`` pixels (and ids outside the table) are ``ignore_index``."""
    known = (label >= 0) & (label < table.shape[1])
    masks = table[:, torch.where(known, label, torch.zeros_like(label))].movedim(0, 1)
    return torch.where(known[:, None], masks, torch.full_like(masks, ignore_index))


class HierarchyAttentionLoss(Loss):
    """Cross-entropy of every stage's NIP logits (``extras["node_logits"]``, (B, S, N, 2, h, w))
    against the nodes' virtual categories, averaged over stages, nodes and labelled pixels.
    The nodes are the label schema's hierarchy tree. Config name: ``hierarchy_attention``."""

    needs = "parsing"
    needs_extras = (NODE_LOGITS,)
    log_name = "hierarchy"

    def __init__(self, context: LossContext | None = None, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        if context is None or context.label_schema is None:
            raise ValueError("hierarchy_attention needs the label schema (its hierarchy gives the nodes)")
        schema = context.label_schema
        tree = hierarchy_tree(schema_tree_spec(schema), schema.num_classes)
        self.register_buffer("table", torch.as_tensor(tree.mask_table()), persistent=False)
        self.ignore_index = ignore_index

    def forward(self, output: ModelOutput, batch: dict) -> dict[str, torch.Tensor]:
        logits = output.extras.get(NODE_LOGITS)
        if logits is None:
            raise ValueError("hierarchy_attention needs a model that returns NIP maps (extras['node_logits'], HIPN)")
        if logits.shape[2] != self.table.shape[0]:
            raise ValueError(
                f"the model has {logits.shape[2]} hierarchy nodes and the label schema's hierarchy "
                f"{self.table.shape[0]}: train HIPN with the data's own hierarchy"
            )
        label = label_on_grid(batch_label(batch), tuple(logits.shape[-2:]))
        masks = virtual_masks(label, self.table, self.ignore_index)  # (B, N, h, w)
        target = masks[:, None].expand(-1, logits.shape[1], -1, -1, -1)  # (B, S, N, h, w)
        loss = F.cross_entropy(logits.float().movedim(3, 1), target, ignore_index=self.ignore_index)
        return {"loss": loss}


__all__ = ["HierarchyAttentionLoss", "label_on_grid", "virtual_masks"]
