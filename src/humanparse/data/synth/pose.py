"""Body proportions and poses of the synthetic people: a kinematic tree with joint limits.

Everything here lives in the person's own frame, in units of about one head height,
with the pelvis at the origin, y pointing down and +x towards the person's left (so a
front view maps it to the image's right unchanged and a back view mirrors it).
Left and right limbs draw their angles from the same distributions, mirrored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...schemas.lip import JOINTS16
from .sampling import weighted_choice

LEFT, RIGHT = +1, -1
SIDES = (LEFT, RIGHT)


def joint_index(name: str) -> int:
    return JOINTS16.index(name)


# Joint limits, radians. Arm angles are measured from the torso's down direction and
# leg angles from straight down, positive away from the body's midline.
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "lean": (-0.3, 0.3),
    "head_tilt": (-0.4, 0.4),
    "shoulder": (-0.5, 3.0),
    "elbow": (-2.4, 2.4),
    "wrist": (-0.5, 0.5),
    "hip": (-0.35, 1.25),
    "knee": (-1.1, 0.6),
    "shin": (-0.45, 1.3),  # the shin's absolute angle from straight down
    "foreshortening": (0.35, 1.0),
}

# Arm archetypes: weight, shoulder range, elbow range, upper-arm and forearm
# foreshortening ranges, chance the arm is in front of the torso.
ARM_ARCHETYPES: dict[str, tuple[float, tuple, tuple, tuple, tuple, float]] = {
    "hanging": (0.36, (0.04, 0.32), (-0.2, 0.4), (0.9, 1.0), (0.85, 1.0), 0.85),
    "hand_on_hip": (0.12, (0.5, 0.95), (-1.9, -1.2), (0.85, 1.0), (0.7, 1.0), 0.9),
    "raised": (0.1, (2.1, 2.95), (-0.5, 0.5), (0.85, 1.0), (0.85, 1.0), 0.7),
    "waving": (0.1, (0.6, 1.5), (0.9, 2.1), (0.85, 1.0), (0.8, 1.0), 0.8),
    "spread": (0.08, (1.2, 1.8), (-0.4, 0.5), (0.9, 1.0), (0.9, 1.0), 0.8),
    "across_body": (0.12, (-0.3, 0.2), (-2.1, -1.2), (0.8, 1.0), (0.55, 0.85), 1.0),
    "reaching_forward": (0.12, (0.0, 0.4), (-0.6, 0.3), (0.45, 0.8), (0.4, 0.75), 1.0),
}

# Stances: weight, hip range, knee range, thigh and shin foreshortening ranges.
STANCES: dict[str, tuple[float, tuple, tuple, tuple, tuple]] = {
    "standing": (0.4, (0.0, 0.14), (-0.12, 0.05), (0.95, 1.0), (0.95, 1.0)),
    "wide": (0.18, (0.15, 0.45), (-0.35, 0.0), (0.95, 1.0), (0.95, 1.0)),
    "walking": (0.2, (-0.12, 0.15), (-0.1, 0.15), (0.75, 1.0), (0.8, 1.0)),
    "crossed": (0.07, (-0.3, -0.1), (0.0, 0.2), (0.95, 1.0), (0.95, 1.0)),
    "squatting": (0.1, (0.25, 0.65), (-0.95, -0.35), (0.35, 0.6), (0.85, 1.0)),
    "kicking": (0.05, (0.6, 1.2), (-0.6, 0.3), (0.8, 1.0), (0.85, 1.0)),
}


def _clip(value: float, limit: str) -> float:
    lo, hi = JOINT_LIMITS[limit]
    return float(min(max(value, lo), hi))


@dataclass(frozen=True)
class BodyShape:
    """Lengths and radii of one person, in head-height units."""

    torso: float  # pelvis to thorax
    neck: float  # thorax to upper neck
    head: float  # upper neck to head top
    head_aspect: float  # head width / head height
    shoulder_half: float
    hip_half: float
    waist_ratio: float
    chest_ratio: float
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    foot: float
    arm_radii: tuple[float, float, float]  # shoulder, elbow, wrist
    leg_radii: tuple[float, float, float]  # hip, knee, ankle
    neck_radius: float

    @property
    def shoulder_width(self) -> float:
        """Half-width of the torso at the shoulder tips."""
        return self.shoulder_half + 0.6 * self.arm_radii[0]

    @property
    def hip_width(self) -> float:
        """Half-width of the hips' outer surface."""
        return self.hip_half + 0.85 * self.leg_radii[0]


def sample_body(rng: np.random.Generator) -> BodyShape:
    build = rng.uniform(0.82, 1.25)  # slim to heavy, widths only
    limbs = rng.uniform(0.92, 1.08)  # long or short limbs
    u = rng.uniform
    arm_r = 0.22 * build * u(0.9, 1.1)
    leg_r = 0.36 * build * u(0.9, 1.1)
    return BodyShape(
        torso=u(2.2, 2.6),
        neck=u(0.32, 0.45),
        head=u(0.95, 1.1),
        head_aspect=u(0.72, 0.84),
        shoulder_half=u(0.78, 0.98) * math.sqrt(build),
        hip_half=u(0.38, 0.5) * build,
        waist_ratio=u(0.72, 0.95),
        chest_ratio=u(0.82, 0.95),
        upper_arm=u(1.35, 1.6) * limbs,
        forearm=u(1.15, 1.35) * limbs,
        hand=u(0.55, 0.7),
        thigh=u(1.9, 2.2) * limbs,
        shin=u(1.8, 2.1) * limbs,
        foot=u(0.75, 0.9),
        arm_radii=(arm_r, arm_r * 0.8, arm_r * 0.58),
        leg_radii=(leg_r, leg_r * 0.62, leg_r * 0.42),
        neck_radius=u(0.2, 0.26) * math.sqrt(build),
    )


@dataclass(frozen=True)
class LimbPose:
    angle: float  # shoulder or hip
    bend: float  # elbow or knee, relative to the upper segment
    upper_scale: float  # foreshortening of the upper segment
    lower_scale: float
    in_front: bool  # in front of the torso (arms) or of the other leg (legs)
    archetype: str
    end_bend: float = 0.0  # wrist bend (arms) or foot turn-out 0..1 (legs)


@dataclass(frozen=True)
class Pose:
    lean: float
    head_tilt: float
    arms: dict[int, LimbPose]
    legs: dict[int, LimbPose]


def _pick(rng: np.random.Generator, table: dict) -> str:
    names = list(table)
    return weighted_choice(rng, names, [table[n][0] for n in names])


def sample_pose(rng: np.random.Generator) -> Pose:
    arms = {}
    for side in SIDES:
        name = _pick(rng, ARM_ARCHETYPES)
        _, shoulder, elbow, upper, lower, p_front = ARM_ARCHETYPES[name]
        arms[side] = LimbPose(
            angle=_clip(rng.uniform(*shoulder) + rng.normal(0, 0.05), "shoulder"),
            bend=_clip(rng.uniform(*elbow) + rng.normal(0, 0.05), "elbow"),
            upper_scale=_clip(rng.uniform(*upper), "foreshortening"),
            lower_scale=_clip(rng.uniform(*lower), "foreshortening"),
            in_front=bool(rng.random() < p_front),
            archetype=name,
            end_bend=_clip(rng.normal(0, 0.2), "wrist"),
        )
    stance = _pick(rng, STANCES)
    legs = {}
    front_leg = SIDES[int(rng.integers(2))]
    for side in SIDES:
        # One leg now and then does something of its own; mostly both share the stance.
        name = _pick(rng, STANCES) if rng.random() < 0.15 else stance
        _, hip, knee, thigh, shin = STANCES[name]
        hip_angle = _clip(rng.uniform(*hip), "hip")
        bend = _clip(rng.uniform(*knee), "knee")
        bend = _clip(hip_angle + bend, "shin") - hip_angle
        legs[side] = LimbPose(
            angle=hip_angle,
            bend=bend,
            upper_scale=_clip(rng.uniform(*thigh), "foreshortening"),
            lower_scale=_clip(rng.uniform(*shin), "foreshortening"),
            in_front=side == front_leg,
            archetype=name,
            end_bend=float(rng.uniform(0.0, 1.0)),
        )
    return Pose(
        lean=_clip(rng.normal(0, 0.08), "lean"),
        head_tilt=_clip(rng.normal(0, 0.12), "head_tilt"),
        arms=arms,
        legs=legs,
    )


@dataclass
class Skeleton:
    """Joint positions in the person frame plus the axes the outlines are built on."""

    joints: np.ndarray  # (16, 2)
    up: np.ndarray  # the torso's up direction
    left: np.ndarray  # the torso's direction towards the person's left
    head_up: np.ndarray
    hand_tips: dict[int, np.ndarray]
    foot_centres: dict[int, np.ndarray]

    def joint(self, name: str) -> np.ndarray:
        return self.joints[joint_index(name)]

    def arm(self, side: int) -> list[np.ndarray]:
        p = "l_" if side == LEFT else "r_"
        return [self.joint(p + "shoulder"), self.joint(p + "elbow"), self.joint(p + "wrist")]

    def leg(self, side: int) -> list[np.ndarray]:
        p = "l_" if side == LEFT else "r_"
        return [self.joint(p + "hip"), self.joint(p + "knee"), self.joint(p + "ankle")]

    def torso_point(self, across: float, height: float) -> np.ndarray:
        """A point ``height`` above the pelvis along the torso and ``across`` to the person's left."""
        return self.joint("pelvis") + height * self.up + across * self.left


def _turn(base: np.ndarray, towards: np.ndarray, angle: float) -> np.ndarray:
    """``base`` turned by ``angle`` towards the perpendicular direction ``towards``."""
    return math.cos(angle) * base + math.sin(angle) * towards


def build_skeleton(body: BodyShape, pose: Pose) -> Skeleton:
    up = np.array([math.sin(pose.lean), -math.cos(pose.lean)])
    left = np.array([math.cos(pose.lean), math.sin(pose.lean)])
    head_angle = pose.lean + pose.head_tilt
    head_up = np.array([math.sin(head_angle), -math.cos(head_angle)])
    joints = np.zeros((len(JOINTS16), 2))
    pelvis = np.zeros(2)
    thorax = pelvis + body.torso * up
    neck = thorax + body.neck * head_up
    joints[joint_index("pelvis")] = pelvis
    joints[joint_index("thorax")] = thorax
    joints[joint_index("upper_neck")] = neck
    joints[joint_index("head_top")] = neck + body.head * head_up
    hand_tips: dict[int, np.ndarray] = {}
    foot_centres: dict[int, np.ndarray] = {}
    down = -up
    straight_down = np.array([0.0, 1.0])
    for side in SIDES:
        p = "l_" if side == LEFT else "r_"
        arm = pose.arms[side]
        # Arm angles turn from the torso's down direction towards this side's outside.
        outward = side * left
        shoulder = thorax + side * body.shoulder_half * left - 0.12 * up
        elbow = shoulder + body.upper_arm * arm.upper_scale * _turn(down, outward, arm.angle)
        wrist = elbow + body.forearm * arm.lower_scale * _turn(down, outward, arm.angle + arm.bend)
        hand_tips[side] = wrist + body.hand * _turn(down, outward, arm.angle + arm.bend + arm.end_bend)
        joints[joint_index(p + "shoulder")] = shoulder
        joints[joint_index(p + "elbow")] = elbow
        joints[joint_index(p + "wrist")] = wrist

        # Leg angles turn from straight down (people stand upright when they lean).
        leg = pose.legs[side]
        out_x = np.array([float(side), 0.0])
        hip = pelvis + side * body.hip_half * left + 0.05 * down
        knee = hip + body.thigh * leg.upper_scale * _turn(straight_down, out_x, leg.angle)
        ankle = knee + body.shin * leg.lower_scale * _turn(straight_down, out_x, leg.angle + leg.bend)
        foot_centres[side] = ankle + np.array([side * (0.04 + 0.16 * leg.end_bend), 0.2])
        joints[joint_index(p + "hip")] = hip
        joints[joint_index(p + "knee")] = knee
        joints[joint_index(p + "ankle")] = ankle
    return Skeleton(
        joints=joints, up=up, left=left, head_up=head_up, hand_tips=hand_tips, foot_centres=foot_centres
    )
