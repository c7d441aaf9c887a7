"""HIPN: the hierarchical information passing network (Liu et al., AAAI 2022, "Noise-tolerant
hybrid learning"), a parser that reasons from the whole body down to the parts.

A backbone (HRNet-W48 in the paper, whose HRNetV2 features sit at stride 4; any backbone of the
table works) feeds an ASPP projection F, giving the root representation h_r with C = 64
channels. Below the root lies the label schema's hierarchy as a tree
(:class:`~humanparse.schemas.HierarchyTree`: full body, then upper and lower body, then the
parts, the schema's classes without background). Every node v with parent p gets its
representation from a node information passing (NIP) module, a self-calibrated block
(:class:`~humanparse.nn.self_calibrated.SelfCalibratedBlock`), a 1x1 conv to two channels
(background, foreground) and a softmax, R = F_NIP(.), whose foreground channel gates the
parent (Eq. 1 and 2):

    stage 1:        h_v = h_p * R_fg(h_p) + h_p
    stages 2..K:    h_u = h_p * R_fg(F_1x1([h_u's children at stage k-1, h_p])) + h_p

where h_p is the parent at the current stage (the stage's own root for the top node), and a
leaf, which has no children, takes Eq. 1 at every stage. Each stage ends by concatenating the
leaves' features and projecting them by ASPP to the next stage's root; after the last stage a
1x1 conv over that concatenation gives the parsing logits (the prediction module; the softmax
is the loss's). Every NIP map is supervised by its node's virtual category, the union of the
classes below it (:class:`~humanparse.losses.HierarchyAttentionLoss`), and returned for the
noise identification's cross-level consistency check.

Readings where the paper is silent (docs/hipn.md): ⊗ multiplies by the foreground channel,
broadcast over the C channels; each stage has its own NIP and 1x1 weights; the prediction
module reads the last stage's leaves; the ASPP rates at stride 4 and 8 are DeepLab v3's at 8
(12, 24, 36). The NIP modules of one parent's children run as one grouped block (no loop over
nodes): same results as one module per node, one call per family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_image_batch, positive_int
from ..nn.aspp import ASPP, aspp_rates, init_classifier
from ..nn.backbones import STANDARD_WIDTH, build_backbone
from ..nn.self_calibrated import SelfCalibratedBlock
from ..nn.weights import load_backbone_weights
from ..schemas.hierarchy import HierarchyTree, hierarchy_tree
from .output import ModelOutput

MAX_STAGES = 4
FOREGROUND = 1  # channel of R that gates the parent; channel 0 is background


class NodeAttention(nn.Module):
    """F_NIP for ``num_nodes`` nodes at once: (B, num_nodes * C, H, W), each node's input in its
    own C channels, to (B, num_nodes, 2, H, W) background/foreground logits per node."""

    def __init__(self, num_nodes: int, channels: int) -> None:
        super().__init__()
        self.num_nodes = num_nodes
        self.block = SelfCalibratedBlock(channels, groups=num_nodes)
        self.classifier = nn.Conv2d(num_nodes * channels, num_nodes * 2, 1, groups=num_nodes)
        init_classifier(self.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.block(x))
        return logits.view(x.shape[0], self.num_nodes, 2, *x.shape[-2:])


class HIPNStage(nn.Module):
    """One stage's weights: a NIP module per family (a parent's children), the 1x1 fusions of
    Eq. 2 (stages after the first, bidirectional), and the ASPP to the next root."""

    def __init__(self, tree: HierarchyTree, channels: int, fuse: bool, rates: Sequence[int] | None) -> None:
        super().__init__()
        self.nip = nn.ModuleList(NodeAttention(len(children), channels) for _, children in tree.families())
        self.fuse = nn.ModuleDict({
            str(node): nn.Conv2d((len(tree.children(node)) + 1) * channels, channels, 1)
            for node in range(tree.num_nodes) if fuse and tree.children(node)
        })
        self.project = ASPP(len(tree.leaves) * channels, channels, rates) if rates is not None else None


class HIPN(nn.Module):
    """HIPN for parsing.

    Args:
        num_classes: number of parsing classes (class 0 is background).
        hierarchy: the schema's levels as each level's coarse id per class, coarsest first
            (:func:`~humanparse.schemas.schema_tree_spec`; a config fills it from the data's
            schema when left out); ``[]``: the parts hang from the root.
        backbone: any of the backbone table; "hrnet_w48" is the paper's.
        output_stride: the backbone's (4 for HRNet; 8, 16 or 32 by dilation for the others).
        channels: C, the width of every node (64 in the paper).
        stages: K, 1 to 4 (3 in the paper); 0 is the plain backbone of the paper's Table 1, the
            ASPP root straight to the classifier (no NIP maps, cross-entropy alone).
        bidirectional: stages after the first pass information bottom-up too (Eq. 2); False
            is the paper's "top-down only" ablation (Eq. 1 at every stage).
        aspp_rates: the atrous rates of every ASPP; None: DeepLab v3's at the output stride
            (12, 24, 36 at 4 and 8).
        base_width: the ResNets' stem width (64 standard).
        pretrained: the backbone's ImageNet weights (a path, or "imagenet" for packaged ones).

    forward(x) returns :class:`ModelOutput` with logits (B, num_classes, ceil(H / s), ceil(W / s))
    and ``extras["node_logits"]``, (B, stages, num_nodes, 2, h, w): every stage's NIP logits,
    and, given a hierarchy, ``extras["level_scores"]`` (:meth:`level_scores`).
    """

    def __init__(
        self,
        num_classes: int,
        hierarchy: Sequence[Sequence[int]] | None = None,
        backbone: str = "hrnet_w48",
        output_stride: int = 4,
        channels: int = 64,
        stages: int = 3,
        bidirectional: bool = True,
        aspp_rates: Sequence[int] | None = None,
        base_width: int = STANDARD_WIDTH,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        positive_int("num_classes", num_classes)
        positive_int("channels", channels)
        if isinstance(stages, bool) or not isinstance(stages, int) or not 0 <= stages <= MAX_STAGES:
            raise ValueError(f"stages must be 0 to {MAX_STAGES}, not {stages!r}")
        if not isinstance(bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false, not {bidirectional!r}")
        self.tree = hierarchy_tree(hierarchy or [], num_classes)
        self.num_classes = num_classes
        self.num_stages, self.bidirectional = stages, bidirectional
        self.backbone = build_backbone(backbone, output_stride, base_width)
        self.output_stride: int = self.backbone.output_stride
        rates = tuple(aspp_rates) if aspp_rates is not None else aspp_rates_at(self.output_stride)
        self.root = ASPP(self.backbone.out_channels, channels, rates)
        self.stages = nn.ModuleList(
            HIPNStage(self.tree, channels, fuse=bidirectional and k > 0, rates=rates if k < stages - 1 else None)
            for k in range(stages)
        )
        # Without stages the classifier reads the root: the backbone and its ASPP alone.
        self.classifier = nn.Conv2d((len(self.tree.leaves) if stages else 1) * channels, num_classes, 1)
        init_classifier(self.classifier)
        self._families = self.tree.families()
        # Level scores: channel j of the stack [background, node 0 .. node N-1] that scores each
        # coarse class of each level (background: 1 - the top nodes' foreground).
        index = []
        for depth, parents in enumerate(hierarchy or []):
            coarse_node = {parents[self.tree.members[n][0]]: n for n in range(self.tree.num_nodes)
                           if self.tree.depths[n] == depth}
            index += [coarse_node[c] + 1 if c in coarse_node else 0 for c in range(max(parents) + 1)]
        self.register_buffer("_level_index", torch.tensor(index, dtype=torch.long), persistent=False)
        self._has_levels = bool(index)  # a Python flag: export traces it as a constant
        self._top_nodes = [n for n in range(self.tree.num_nodes) if self.tree.depths[n] == 0]
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)

    # The loss a config without a ``loss:`` list trains with: the parsing cross-entropy and the
    # supervision of every NIP map by its node's virtual category.
    @property
    def default_loss(self) -> list[dict[str, Any]]:
        return [{"type": "cross_entropy"}, *([{"type": "hierarchy_attention"}] if self.num_stages else [])]

    def level_scores(self, node_logits: torch.Tensor) -> torch.Tensor:
        """(B, Σ level classes, h, w): each level's coarse classes scored by the last stage's NIP
        maps, a node by its foreground probability and background by 1 - the full body's (the
        noise identification's level predictions are their argmax)."""
        foreground = node_logits.softmax(dim=2)[:, :, FOREGROUND]  # (B, N, h, w)
        background = 1 - foreground[:, self._top_nodes].amax(dim=1, keepdim=True)
        return torch.cat([background, foreground], dim=1).index_select(1, self._level_index)

    def _stage(
        self, stage: HIPNStage, root: torch.Tensor, previous: list[torch.Tensor] | None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One stage's node features (by node) and NIP logits (B, num_nodes, 2, h, w)."""
        features: list[torch.Tensor | None] = [None] * self.tree.num_nodes
        logits: list[torch.Tensor | None] = [None] * self.tree.num_nodes
        for nip, (parent, children) in zip(stage.nip, self._families):
            parent_features = root if parent < 0 else features[parent]
            assert parent_features is not None  # families run top-down
            inputs = []
            for child in children:
                fuse = stage.fuse[str(child)] if previous is not None and str(child) in stage.fuse else None
                if fuse is None:  # Eq. 1
                    inputs.append(parent_features)
                else:  # Eq. 2: the child's own children at the previous stage, and its parent now
                    below = [previous[c] for c in self.tree.children(child)]
                    inputs.append(fuse(torch.cat([*below, parent_features], dim=1)))
            attention = nip(torch.cat(inputs, dim=1))  # (B, V, 2, h, w)
            gate = attention.softmax(dim=2)[:, :, FOREGROUND]
            for i, child in enumerate(children):
                features[child] = parent_features * gate[:, i : i + 1] + parent_features
                logits[child] = attention[:, i]
        return features, torch.stack(logits, dim=1)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        check_image_batch(x)
        root = self.root(self.backbone(x)[self.backbone.out_feature])
        previous: list[torch.Tensor] | None = None
        node_logits = []
        leaves = root
        for stage in self.stages:
            features, logits = self._stage(stage, root, previous)
            node_logits.append(logits)
            leaves = torch.cat([features[n] for n in self.tree.leaves], dim=1)
            if stage.project is not None:
                root = stage.project(leaves)
            previous = features
        if not node_logits:  # stages: 0
            return ModelOutput(logits=self.classifier(leaves))
        extras = {"node_logits": torch.stack(node_logits, dim=1)}
        if self._has_levels:
            extras["level_scores"] = self.level_scores(node_logits[-1])
        return ModelOutput(logits=self.classifier(leaves), extras=extras)


def aspp_rates_at(output_stride: int) -> tuple[int, ...]:
    """HIPN's ASPP rates: DeepLab v3's at the output stride, and its stride-8 rates at stride 4
    (the paper gives none)."""
    return aspp_rates("v3", max(output_stride, 8))


__all__ = ["HIPN", "HIPNStage", "NodeAttention", "aspp_rates_at"]
