"""MPII's 16 joints (also LIP's joint order) and MPII's PCKh schema."""

from __future__ import annotations

from .base import JointSchema, PCKReference

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


def joints16_table(head: tuple[int, ...]) -> tuple:
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
    table=joints16_table((9,)),
    description="MPII's 16 joints, PCKh: 0.6 x head-box diagonal; pelvis and thorax left out of the mean.",
)
