"""Predictions in one label schema, written or scored in another (a parser's labels in a try-on
pipeline's coarser set; LIP -> ATR on their shared classes, LIP paper Table 8).

The mapping is a :class:`~humanparse.schemas.mappings.LabelMapping` from the model's schema to
the target: built in for datasets that share classes, or a YAML file. Two rules, everywhere
(``predict --to-schema``, ``evaluate --to-schema``, ``score parsing --pred-schema``):

- a predicted class the mapping sends nowhere (ignore) becomes the target's background
  (class 0): written maps have no holes, and scoring counts it as a miss;
- scoring runs over the target classes some model class maps to ("reachable"); ground truth
  of the other target classes is ignored, since the model cannot predict them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SchemaError
from ..schemas import IGNORE_INDEX, LabelSchema, get_label_mapping, get_label_schema, load_label_mapping
from ..schemas.mappings import LabelMapping
from ..schemas.relabel import lookup_table, relabel


def resolve_mapping(source: LabelSchema, target: str | Path | LabelSchema) -> LabelMapping:
    """The mapping from ``source`` to ``target``: a built-in one by the target schema's name, or
    a mapping YAML file whose source is ``source``."""
    if isinstance(target, (str, Path)) and str(target).endswith((".yaml", ".yml")):
        mapping = load_label_mapping(target)
        if mapping.source.classes != source.classes:
            raise SchemaError(
                f"{target}: the mapping is from {mapping.source.name!r}, but the predictions are in {source.name!r}"
            )
        return mapping
    return get_label_mapping(source, target if isinstance(target, LabelSchema) else get_label_schema(str(target)))


@dataclass(frozen=True)
class CrossSchema:
    """Writing and scoring ``mapping.source`` predictions in ``mapping.target``."""

    mapping: LabelMapping

    @property
    def target(self) -> LabelSchema:
        return self.mapping.target

    @cached_property
    def predicted_ids(self) -> tuple[int, ...]:
        """Target id of each model class, unmapped ones -> background (0)."""
        return tuple(0 if t == IGNORE_INDEX else int(t) for t in self.mapping.targets)

    @cached_property
    def reachable(self) -> tuple[int, ...]:
        """Target ids some model class maps to (background always), in target order."""
        return tuple(sorted({0, *self.predicted_ids}))

    @cached_property
    def _to_target(self) -> np.ndarray:
        return lookup_table(self.predicted_ids, self.mapping.source.num_classes)

    @cached_property
    def _to_scored(self) -> np.ndarray:
        position = {c: i for i, c in enumerate(self.reachable)}
        return lookup_table([position.get(c, IGNORE_INDEX) for c in range(self.target.num_classes)], self.target.num_classes)

    def labels(self, ids: Any) -> Any:
        """Model class ids (NumPy or torch) -> target ids."""
        return relabel(ids, self._to_target, f"schema {self.mapping.source.name!r}")

    def probabilities(self, probs: np.ndarray) -> np.ndarray:
        """(source classes, H, W) probabilities -> (target classes, H, W), summed per target class."""
        out = np.zeros((self.target.num_classes, *probs.shape[1:]), dtype=probs.dtype)
        np.add.at(out, list(self.predicted_ids), probs)
        return out

    @cached_property
    def scored_schema(self) -> LabelSchema:
        """The target restricted to its reachable classes: the space scores are computed in."""
        keep = self.reachable
        position = {c: i for i, c in enumerate(keep)}
        target = self.target
        return LabelSchema(
            name=f"{target.name} (the {len(keep)} classes {self.mapping.source.name} maps to)",
            classes=tuple(target.classes[c] for c in keep),
            palette=tuple(target.palette[c] for c in keep) if target.palette else (),
            flip_pairs=tuple((position[a], position[b]) for a, b in target.flip_pairs if a in position and b in position),
        )

    def scored_prediction(self, model_ids: np.ndarray) -> np.ndarray:
        """Model class ids -> ids of :attr:`scored_schema`."""
        return self.scored_ground_truth(self.labels(model_ids))

    def scored_ground_truth(self, target_ids: np.ndarray) -> np.ndarray:
        """Ground truth in the target's ids -> ids of :attr:`scored_schema`; unreachable classes ignored."""
        return relabel(target_ids, self._to_scored, f"schema {self.target.name!r}")

    def describe(self) -> str:
        return (
            f"{self.mapping.source.name} predictions scored as {self.target.name} on the {len(self.reachable)} "
            f"classes they map to (of {self.target.num_classes}); unmapped predictions count as background"
        )


__all__ = ["CrossSchema", "resolve_mapping"]
