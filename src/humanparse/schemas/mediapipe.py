"""MediaPipe Pose's 33 landmarks, in the order and with the names of its model card."""

from __future__ import annotations

from .base import JointSchema, PCKReference

MEDIAPIPE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)

MEDIAPIPE_POSE = JointSchema(
    name="mediapipe_pose",
    joints=MEDIAPIPE_LANDMARKS,
    # Every left landmark with its right one; the nose is its own mirror.
    flip_pairs=tuple(
        (i, MEDIAPIPE_LANDMARKS.index("right" + n[4:]))
        for i, n in enumerate(MEDIAPIPE_LANDMARKS)
        if n.startswith("left")
    )
    + (("mouth_left", "mouth_right"),),
    # MediaPipe's pose connections.
    skeleton=(
        (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
        (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
        (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30),
        (29, 31), (30, 32), (27, 31), (28, 32),
    ),
    # No head box either: COCO's torso rule, left shoulder to right hip.
    pck=PCKReference("joints", 1.0, ("left_shoulder", "right_hip")),
    table=(
        ("Head", tuple(range(11))), ("Shoulder", (11, 12)), ("Elbow", (13, 14)), ("Wrist", (15, 16)),
        ("Hand", (17, 18, 19, 20, 21, 22)), ("Hip", (23, 24)), ("Knee", (25, 26)), ("Ankle", (27, 28)),
        ("Foot", (29, 30, 31, 32)),
    ),
    description="MediaPipe Pose's 33 landmarks (x, y and a visibility flag once thresholded); torso PCK.",
)
