"""COCO's 17-keypoint joint schema."""

from __future__ import annotations

from .base import JointSchema, PCKReference

COCO_JOINTS = JointSchema(
    name="coco",
    joints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's own skeleton, converted from its 1-based indices.
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    # COCO has no head box; PCK uses the torso diagonal (left shoulder to right hip).
    pck=PCKReference("joints", 1.0, (5, 12)),
    table=(
        ("Head", (0, 1, 2, 3, 4)), ("Shoulder", (5, 6)), ("Elbow", (7, 8)), ("Wrist", (9, 10)),
        ("Hip", (11, 12)), ("Knee", (13, 14)), ("Ankle", (15, 16)),
    ),
    description="COCO's 17 keypoints; PCK against the left-shoulder to right-hip distance.",
)
