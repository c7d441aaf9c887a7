"""What every loss term shares: one call signature, and the schedule and weight a config gives it.

A loss is an ``nn.Module`` called as ``loss(output, batch)``, where ``output`` is the model's
:class:`~humanparse.models.output.ModelOutput` and ``batch`` the collated batch (``image``,
``label``, ``keypoints``, ``meta``, ...). It returns a dict whose ``"loss"`` is the value to
minimise; other entries are detached values worth logging. What a loss needs to know beyond
the batch (the label schema, the model's output stride) it receives once, when it is built,
as a :class:`LossContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import nn

from ..models.output import ModelOutput
from ..schemas import JointSchema, LabelSchema


@dataclass(frozen=True)
class LossContext:
    """What a loss may need besides its options: the data's schemas and the model's stride."""

    label_schema: LabelSchema | None = None
    joint_schema: JointSchema | None = None
    output_stride: int = 1


class Loss(nn.Module):
    """Base of the loss terms a config can name (see :data:`humanparse.losses.LOSSES`).

    Subclasses set ``needs`` ("parsing" or "joints": what the model must predict; ``needs_extras``
    names the ``ModelOutput.extras`` they read beside it),
    ``log_name`` (the training log's ``train/loss_<log_name>``) and ``logged`` (further
    entries of their result to log, by result key and log name).
    """

    needs: ClassVar[str]
    log_name: ClassVar[str]
    logged: ClassVar[dict[str, str]] = {}
    # ModelOutput.extras the loss reads (HIPN's NIP maps): only the models that return them feed it.
    needs_extras: ClassVar[tuple[str, ...]] = ()


# Where a training sample comes from (its meta's "source"): labelled data, or pseudo-labels a
# model made for unlabelled images. A loss term sees the samples of its ``source`` only.
LABELLED, PSEUDO, ALL_SOURCES = "labelled", "pseudo", "all"
SOURCES = (ALL_SOURCES, LABELLED, PSEUDO)


def sample_source(meta: dict) -> str:
    """A sample's source: its meta's "source", labelled unless a pseudo-label reader says otherwise."""
    return str(meta.get("source", LABELLED))


@dataclass
class LossTerm:
    """One entry of a config's ``loss:`` list: a loss, its weight, the epochs it is on and the
    samples it sees.

    The term counts in epochs ``start_epoch <= epoch < stop_epoch`` (no ``stop_epoch``: to the
    end). A method's phases are terms with adjacent ranges: SS-JPPNet's cross-entropy stops
    where its structure-sensitive loss starts. ``source`` (:data:`SOURCES`) routes it: "all"
    samples, or only the "labelled" or the "pseudo"-labelled ones of a mixed batch (HIPN's
    retraining: cross-entropy on the labels, hybrid learning on the pseudo-labels).
    """

    type: str
    loss: Loss
    weight: float = 1.0
    start_epoch: int = 0
    stop_epoch: int | None = None
    source: str = ALL_SOURCES

    def active(self, epoch: int) -> bool:
        return self.start_epoch <= epoch and (self.stop_epoch is None or epoch < self.stop_epoch)

    def routed(self, output: ModelOutput, batch: dict[str, Any]) -> tuple[ModelOutput, dict[str, Any]] | None:
        """The output and batch of the samples this term sees (all of them, or those of its
        source); None when the batch has none of them."""
        if self.source == ALL_SOURCES:
            return output, batch
        keep = [i for i, meta in enumerate(batch["meta"]) if sample_source(meta) == self.source]
        if not keep:
            return None
        if len(keep) == len(batch["meta"]):
            return output, batch
        return select_samples(output, batch, keep)


def select_samples(output: ModelOutput, batch: dict[str, Any], keep: list[int]) -> tuple[ModelOutput, dict[str, Any]]:
    """The samples ``keep`` (batch positions) of a model output and its batch."""
    index = torch.tensor(keep, device=batch["image"].device)

    def pick(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.index_select(0, index.to(t.device))

    picked = replace(
        output, logits=pick(output.logits), aux_logits=[pick(t) for t in output.aux_logits],  # type: ignore[misc]
        heatmaps=pick(output.heatmaps), aux_heatmaps=[pick(t) for t in output.aux_heatmaps],  # type: ignore[misc]
        extras={k: pick(v) for k, v in output.extras.items()},  # type: ignore[misc]
    )
    sub: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            sub[key] = pick(value)
        elif key == "maps":
            sub[key] = {name: pick(m) for name, m in value.items()}
        elif isinstance(value, list) and len(value) == len(batch["meta"]):
            sub[key] = [value[i] for i in keep]
        else:
            sub[key] = value
    return picked, sub


__all__ = ["ALL_SOURCES", "LABELLED", "PSEUDO", "SOURCES", "Loss", "LossContext", "LossTerm", "sample_source", "select_samples"]
