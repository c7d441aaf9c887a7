"""PASCAL-Person-Part label schema (7 classes, left and right merged)."""

from __future__ import annotations

from .base import LabelSchema
from .hierarchy import body_hierarchy

_PARTS = ("head", "torso", "upper_arms", "lower_arms", "upper_legs", "lower_legs")

PASCAL_PERSON_PART = LabelSchema(
    name="pascal_person_part",
    classes=("background",) + _PARTS,
    groups=tuple((p, (p,)) for p in _PARTS),
    description="PASCAL-Person-Part: six parts plus background, left and right merged, multi-person.",
    # HIPN's own: upper body = head, torso and arms; lower body = the legs.
    hierarchy=body_hierarchy("background", _PARTS[:4], _PARTS[4:]),
)
