"""Losses, apart from the models: a training task composes model + loss terms + metrics.

:data:`LOSSES` names every loss a config's ``loss:`` list can choose; :func:`build_losses`
turns that list into :class:`LossTerm` s. Each entry is ``{type, weight, start_epoch,
stop_epoch, **options}``; the options are the loss class's own (see each class).
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from ..errors import ConfigError
from .base import ALL_SOURCES, SOURCES, Loss, LossContext, LossTerm, sample_source
from .cross_entropy import ParsingLoss, upsample_to
from .heatmap import HeatmapLoss, HeatmapMSELoss
from .hierarchy import HierarchyAttentionLoss
from .hybrid import NoiseTolerantLoss
from .masks import MaskL1Loss
from .structure import StructureSensitiveLoss

LOSSES: dict[str, type[Loss]] = {
    "cross_entropy": ParsingLoss,
    "structure_sensitive": StructureSensitiveLoss,
    "heatmap_l2": HeatmapLoss,
    "heatmap_mse": HeatmapMSELoss,
    "hierarchy_attention": HierarchyAttentionLoss,
    "noise_tolerant": NoiseTolerantLoss,
    "mask_l1": MaskL1Loss,
}
# What a term of a config's loss list holds besides the loss's own options.
TERM_KEYS = ("type", "weight", "start_epoch", "stop_epoch", "source")


class LossConfigError(ConfigError):
    """A ``loss:`` entry that cannot be built; the message names the entry and the problem."""


def default_losses(parses: bool, poses: bool) -> list[dict[str, Any]]:
    """The loss list of a config that gives none: cross-entropy for a model that parses, the
    heatmap loss for one that predicts joints (both, each weighing 1, for a joint model)."""
    return [*([{"type": "cross_entropy"}] if parses else []), *([{"type": "heatmap_l2"}] if poses else [])]


def loss_options(name: str) -> list[str]:
    """The options a loss type takes in a config entry (its constructor's, but the context)."""
    parameters = inspect.signature(LOSSES[name]).parameters
    return [p for p in parameters if p not in ("self", "context", "ignore_index")]


def _check_epoch(where: str, key: str, value: Any, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LossConfigError(f"{where}: {key} must be an integer >= 0{' or null' if allow_none else ''}, not {value!r}")


def check_loss_entry(entry: Any, where: str) -> None:
    """An error naming ``where`` unless ``entry`` is a well-formed ``loss:`` entry (the options
    themselves are checked by the loss when it is built)."""
    if not isinstance(entry, dict) or "type" not in entry:
        raise LossConfigError(f"{where}: a loss entry is a mapping with a 'type' ({', '.join(LOSSES)}), not {entry!r}")
    if entry["type"] not in LOSSES:
        raise LossConfigError(f"{where}: unknown loss type {entry['type']!r}; known: {', '.join(LOSSES)}")
    weight = entry.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise LossConfigError(f"{where}: weight must be a number >= 0, not {weight!r}")
    _check_epoch(where, "start_epoch", entry.get("start_epoch", 0), allow_none=False)
    _check_epoch(where, "stop_epoch", entry.get("stop_epoch"), allow_none=True)
    if entry.get("source", ALL_SOURCES) not in SOURCES:
        raise LossConfigError(f"{where}: source must be one of {', '.join(SOURCES)}, not {entry['source']!r}")
    stop = entry.get("stop_epoch")
    if stop is not None and stop <= entry.get("start_epoch", 0):
        raise LossConfigError(f"{where}: stop_epoch ({stop}) must be after start_epoch ({entry.get('start_epoch', 0)})")
    unknown = sorted(set(entry) - set(TERM_KEYS) - set(loss_options(entry["type"])))
    if unknown:
        known = ", ".join([*TERM_KEYS[1:], *loss_options(entry["type"])])
        raise LossConfigError(f"{where}: {entry['type']} takes no option {', '.join(map(repr, unknown))}; known: {known}")


def check_loss_list(entries: Any) -> None:
    """An error unless ``entries`` is a config's ``loss:`` value: null (the model's default terms)
    or a non-empty list of well-formed entries."""
    if entries is None:
        return
    if not isinstance(entries, (list, tuple)) or not entries:
        raise LossConfigError(
            f"'loss' must be a non-empty list of terms such as [{{type: cross_entropy}}] (types: {', '.join(LOSSES)}), "
            f"or null for the model's default; got {entries!r}"
        )
    for i, entry in enumerate(entries):
        check_loss_entry(entry, f"loss[{i}]")


def build_losses(
    entries: Sequence[dict[str, Any]] | None, context: LossContext, parses: bool, poses: bool
) -> list[LossTerm]:
    """The loss terms of a config's ``loss:`` list (None: :func:`default_losses`) for a model
    that ``parses`` and/or ``poses``; an error for a term the model cannot feed."""
    check_loss_list(entries)
    if entries is None:
        entries = default_losses(parses, poses)
    predicts = {"parsing": parses, "joints": poses}
    terms = []
    for i, entry in enumerate(entries):
        where = f"loss[{i}]"
        cls = LOSSES[entry["type"]]
        if not predicts[cls.needs]:
            raise LossConfigError(f"{where}: {entry['type']} needs a model that predicts {cls.needs}, and this one does not")
        options = {k: v for k, v in entry.items() if k not in TERM_KEYS}
        try:
            loss = cls(context, **options)
        except ValueError as e:
            raise LossConfigError(f"{where} ({entry['type']}): {e}") from e
        terms.append(LossTerm(
            entry["type"], loss, float(entry.get("weight", 1.0)), int(entry.get("start_epoch", 0)), entry.get("stop_epoch"),
            entry.get("source", ALL_SOURCES),
        ))
    return terms


__all__ = [
    "ALL_SOURCES", "LOSSES", "SOURCES", "HeatmapLoss", "HeatmapMSELoss", "HierarchyAttentionLoss", "Loss", "LossConfigError", "LossContext", "LossTerm", "MaskL1Loss", "NoiseTolerantLoss", "ParsingLoss",
    "StructureSensitiveLoss", "build_losses", "check_loss_entry", "check_loss_list", "default_losses", "loss_options", "sample_source", "upsample_to",
]
