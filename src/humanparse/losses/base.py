"""What every loss term shares: one call signature, and the schedule and weight a config gives it.

A loss is an ``nn.Module`` called as ``loss(output, batch)``, where ``output`` is the model's
:class:`~humanparse.models.output.ModelOutput` and ``batch`` the collated batch (``image``,
``label``, ``keypoints``, ``meta``, ...). It returns a dict whose ``"loss"`` is the value to
minimise; other entries are detached values worth logging. What a loss needs to know beyond
the batch (the label schema, the model's output stride) it receives once, when it is built,
as a :class:`LossContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..schemas import JointSchema, LabelSchema


@dataclass(frozen=True)
class LossContext:
    """What a loss may need besides its options: the data's schemas and the model's stride."""

    label_schema: LabelSchema | None = None
    joint_schema: JointSchema | None = None
    output_stride: int = 1


class Loss(nn.Module):
    """Base of the loss terms a config can name (see :data:`humanparse.losses.LOSSES`).

    Subclasses set ``needs`` ("parsing" or "joints": what the model must predict),
    ``log_name`` (the training log's ``train/loss_<log_name>``) and ``logged`` (further
    entries of their result to log, by result key and log name).
    """

    needs: ClassVar[str]
    log_name: ClassVar[str]
    logged: ClassVar[dict[str, str]] = {}


@dataclass
class LossTerm:
    """One entry of a config's ``loss:`` list: a loss, its weight and the epochs it is on.

    The term counts in epochs ``start_epoch <= epoch < stop_epoch`` (no ``stop_epoch``: to the
    end). A method's phases are terms with adjacent ranges: SS-JPPNet's cross-entropy stops
    where its structure-sensitive loss starts.
    """

    type: str
    loss: Loss
    weight: float = 1.0
    start_epoch: int = 0
    stop_epoch: int | None = None

    def active(self, epoch: int) -> bool:
        return self.start_epoch <= epoch and (self.stop_epoch is None or epoch < self.stop_epoch)


__all__ = ["Loss", "LossContext", "LossTerm"]
