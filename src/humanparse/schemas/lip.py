"""LIP and CIHP label schemas and the 16-joint LIP/MPII joint schemas."""

from __future__ import annotations

from .base import JointSchema, LabelSchema, PCKReference

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

LIP = LabelSchema(
    name="lip",
    classes=LIP_CLASSES,
    palette=LIP_PALETTE,
    flip_pairs=LIP_FLIP_PAIRS,
    groups=LIP_GROUPS,
    description="Look Into Person: 19 parts and clothes plus background, single person.",
)

CIHP_CLASSES = LIP_CLASSES[:10] + ("Torso-skin",) + LIP_CLASSES[11:]

CIHP = LabelSchema(
    name="cihp",
    classes=CIHP_CLASSES,
    palette=LIP_PALETTE,
    flip_pairs=LIP_FLIP_PAIRS,
    groups=(("head", LIP_GROUPS[0][1]), ("upper_body", ("Upper-clothes", "Coat", "Scarf", "Torso-skin")))
    + LIP_GROUPS[2:],
    description="Crowd Instance-level Human Parsing: LIP's classes with 10 = Torso-skin, multi-person.",
)

JOINTS16 = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow",
    "l_wrist",
)
JOINTS16_FLIP_PAIRS = ((5, 0), (4, 1), (3, 2), (15, 10), (14, 11), (13, 12))
JOINTS16_SKELETON = (
    (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
)


def _joints16_table(head: tuple[int, ...]) -> tuple:
    return (
        ("Head", head), ("Shoulder", (12, 13)), ("Elbow", (11, 14)), ("Wrist", (10, 15)),
        ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankle", (0, 5)),
    )


MPII_JOINTS = JointSchema(
    name="mpii",
    joints=JOINTS16,
    flip_pairs=JOINTS16_FLIP_PAIRS,
    skeleton=JOINTS16_SKELETON,
    pck=PCKReference("headbox", 0.6),
    mean_excluded=(6, 7),
    table=_joints16_table((9,)),
    description="MPII's 16 joints, PCKh: 0.6 x head-box diagonal; pelvis and thorax left out of the mean.",
)

LIP_JOINTS = JointSchema(
    name="lip",
    joints=JOINTS16,
    flip_pairs=JOINTS16_FLIP_PAIRS,
    skeleton=JOINTS16_SKELETON,
    pck=PCKReference("joints", 1.0, (8, 9)),
    mean_excluded=(6, 7),
    table=_joints16_table((8, 9)),
    description="LIP's 16 joints (MPII order), PCK against the upper-neck to head-top distance.",
)
