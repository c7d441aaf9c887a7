"""CIHP label schema: LIP's classes with 10 = Torso-skin, multi-person."""

from __future__ import annotations

from .base import LabelSchema
from .hierarchy import body_hierarchy
from .lip import LIP_CLASSES, LIP_FLIP_PAIRS, LIP_GROUPS, LIP_LOWER_BODY, LIP_PALETTE, LIP_UPPER_BODY

CIHP_CLASSES = LIP_CLASSES[:10] + ("Torso-skin",) + LIP_CLASSES[11:]

CIHP = LabelSchema(
    name="cihp",
    classes=CIHP_CLASSES,
    palette=LIP_PALETTE,
    flip_pairs=LIP_FLIP_PAIRS,
    groups=(("head", LIP_GROUPS[0][1]), ("upper_body", ("Upper-clothes", "Coat", "Scarf", "Torso-skin")))
    + LIP_GROUPS[2:],
    description="Crowd Instance-level Human Parsing: LIP's classes with 10 = Torso-skin, multi-person.",
    # LIP's halves, with torso skin (which takes Jumpsuits' id) in the upper body.
    hierarchy=body_hierarchy(
        "Background", LIP_UPPER_BODY + ("Torso-skin",), tuple(c for c in LIP_LOWER_BODY if c != "Jumpsuits")
    ),
)
