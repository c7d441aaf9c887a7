"""LIP: its label schema and its 16-joint schema (MPII's joints, its own PCK rule).

CIHP (``cihp.py``) and MPII (``mpii.py``) live in their own modules; ``CIHP``, ``MPII_JOINTS``
and the 16-joint tables are still importable from here.
"""

from __future__ import annotations

from .base import JointSchema, LabelSchema, PCKReference
from .hierarchy import body_hierarchy
from .mpii import JOINTS16, JOINTS16_FLIP_PAIRS, JOINTS16_SKELETON, MPII_JOINTS, joints16_table

LIP_CLASSES = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat",
    "Socks", "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
    "Left-leg", "Right-leg", "Left-shoe", "Right-shoe",
)

# The palette of the official LIP code (also mmsegmentation's), by class id.
LIP_PALETTE = (
    (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85),
    (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0),
    (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170), (170, 255, 85),
    (255, 255, 0), (255, 170, 0),
)

LIP_FLIP_PAIRS = (("Left-arm", "Right-arm"), ("Left-leg", "Right-leg"), ("Left-shoe", "Right-shoe"))

# The nine pseudo-joint groups of the structure-sensitive loss (LIP paper, Section 5).
LIP_GROUPS = (
    ("head", ("Hat", "Hair", "Sunglasses", "Face")),
    ("upper_body", ("Upper-clothes", "Coat", "Scarf")),
    ("lower_body", ("Pants", "Skirt")),
    ("left_arm", ("Left-arm",)),
    ("right_arm", ("Right-arm",)),
    ("left_leg", ("Left-leg",)),
    ("right_leg", ("Right-leg",)),
    ("left_shoe", ("Left-shoe",)),
    ("right_shoe", ("Right-shoe",)),
)

# HIPN's levels above the parts; its paper shows them only in a figure, so the halves follow the
# split published with HHP's LIP code: dress and coat with the upper body, jumpsuits, socks and
# shoes with the lower.
LIP_UPPER_BODY = (
    "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Scarf", "Face", "Left-arm",
    "Right-arm",
)
LIP_LOWER_BODY = ("Socks", "Pants", "Jumpsuits", "Skirt", "Left-leg", "Right-leg", "Left-shoe", "Right-shoe")


LIP = LabelSchema(
    name="lip",
    classes=LIP_CLASSES,
    palette=LIP_PALETTE,
    flip_pairs=LIP_FLIP_PAIRS,
    groups=LIP_GROUPS,
    description="Look Into Person: 19 parts and clothes plus background, single person.",
    hierarchy=body_hierarchy("Background", LIP_UPPER_BODY, LIP_LOWER_BODY),
)

LIP_JOINTS = JointSchema(
    name="lip",
    joints=JOINTS16,
    flip_pairs=JOINTS16_FLIP_PAIRS,
    skeleton=JOINTS16_SKELETON,
    pck=PCKReference("joints", 1.0, (8, 9)),
    mean_excluded=(6, 7),
    # PIL's tables add "U.Body": joints 8-15 (neck, head, arms) pooled, as the mean pools.
    table=joints16_table((8, 9)) + (("U.Body", tuple(range(8, 16))),),
    table_pooled=("U.Body",),
    description="LIP's 16 joints (MPII order), PCK against the upper-neck to head-top distance.",
)


def __getattr__(name: str):
    # CIHP builds on LIP's tables, so importing it eagerly here would be circular.
    if name == "CIHP":
        from .cihp import CIHP

        return CIHP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CIHP", "JOINTS16", "JOINTS16_FLIP_PAIRS", "JOINTS16_SKELETON", "LIP", "LIP_CLASSES", "LIP_FLIP_PAIRS",
    "LIP_GROUPS", "LIP_JOINTS", "LIP_LOWER_BODY", "LIP_PALETTE", "LIP_UPPER_BODY", "MPII_JOINTS",
]
