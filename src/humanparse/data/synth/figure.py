"""One synthetic person: an outfit, and the body drawn part by part in depth order.

Drawing writes *piece* ids into one uint8 canvas; each piece carries a LIP class, a
material, the body part that owns it (to tell occlusion of joints) and a shade. The
image and the label map are both read out of that canvas afterwards, so they agree
pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable, Sequence

import numpy as np

from ...schemas.lip import LIP
from . import textures
from .geometry import chain, chain_point, ellipse, ellipse_cap, fill, segment, segment_lengths, unit
from .pose import LEFT, RIGHT, SIDES, BodyShape, Pose, Skeleton
from .sampling import pick, weighted_choice


def lip_class(name: str) -> int:
    """A LIP class id, looked up by name in the schema."""
    return LIP.classes.index(name)


BACKGROUND = lip_class("Background")
HAT = lip_class("Hat")
HAIR = lip_class("Hair")
GLOVE = lip_class("Glove")
SUNGLASSES = lip_class("Sunglasses")
UPPER_CLOTHES = lip_class("Upper-clothes")
DRESS = lip_class("Dress")
COAT = lip_class("Coat")
SOCKS = lip_class("Socks")
PANTS = lip_class("Pants")
JUMPSUITS = lip_class("Jumpsuits")
SCARF = lip_class("Scarf")
SKIRT = lip_class("Skirt")
FACE = lip_class("Face")
ARM = {LEFT: lip_class("Left-arm"), RIGHT: lip_class("Right-arm")}
LEG = {LEFT: lip_class("Left-leg"), RIGHT: lip_class("Right-leg")}
SHOE = {LEFT: lip_class("Left-shoe"), RIGHT: lip_class("Right-shoe")}


class Owner(IntEnum):
    """Which part of the scene a piece belongs to, for telling whether a joint is hidden."""

    BACKGROUND = 0
    OCCLUDER = 1
    HEAD = 2
    TORSO = 3
    LOWER = 4  # garments over both legs: skirts, trouser seats, coat tails
    LEFT_ARM = 5
    RIGHT_ARM = 6
    LEFT_LEG = 7
    RIGHT_LEG = 8


ARM_OWNER = {LEFT: Owner.LEFT_ARM, RIGHT: Owner.RIGHT_ARM}
LEG_OWNER = {LEFT: Owner.LEFT_LEG, RIGHT: Owner.RIGHT_LEG}


def _joint_owners() -> dict[str, frozenset[Owner]]:
    """Per joint, the owners whose pieces may lie over it without hiding it: its own limb,
    and the person's clothes that are worn over it (a skirt over a knee, a coat's tail
    over a thigh). Anything else on top (an occluder, the other limb, the torso in front
    of an arm) hides the joint."""
    owners: dict[str, frozenset[Owner]] = {}
    for prefix, side in (("l_", LEFT), ("r_", RIGHT)):
        leg, arm = LEG_OWNER[side], ARM_OWNER[side]
        owners[prefix + "ankle"] = frozenset({leg, Owner.LOWER})
        owners[prefix + "knee"] = frozenset({leg, Owner.LOWER, Owner.TORSO})
        owners[prefix + "hip"] = frozenset({leg, Owner.LOWER, Owner.TORSO})
        owners[prefix + "wrist"] = frozenset({arm})
        owners[prefix + "elbow"] = frozenset({arm})
        owners[prefix + "shoulder"] = frozenset({arm, Owner.TORSO, Owner.HEAD})
    owners["pelvis"] = frozenset({Owner.TORSO, Owner.LOWER, Owner.LEFT_LEG, Owner.RIGHT_LEG})
    owners["thorax"] = frozenset({Owner.TORSO, Owner.HEAD})
    owners["upper_neck"] = frozenset({Owner.TORSO, Owner.HEAD})
    owners["head_top"] = frozenset({Owner.HEAD})
    return owners


# The background counts as not hiding anything: it only shows at a joint where an
# outline misses the joint by a pixel.
JOINT_OWNERS = _joint_owners()


class Canvas:
    """A map of piece ids with, per piece, its class, material, owner and shade."""

    MAX_PIECES = 255

    def __init__(self, height: int, width: int):
        self.pieces = np.zeros((height, width), dtype=np.uint8)
        self.materials: list[textures.Material] = []
        self.piece_class: list[int] = [BACKGROUND]
        self.piece_material: list[int] = [0]
        self.piece_owner: list[int] = [Owner.BACKGROUND]
        self.piece_shade: list[float] = [1.0]

    def add_material(self, material: textures.Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def add_piece(self, lip_id: int, material: int, owner: Owner, shade: float = 1.0) -> int:
        if len(self.piece_class) > self.MAX_PIECES:
            raise RuntimeError(f"a synthetic scene may hold at most {self.MAX_PIECES} pieces")
        self.piece_class.append(lip_id)
        self.piece_material.append(material)
        self.piece_owner.append(int(owner))
        self.piece_shade.append(shade)
        return len(self.piece_class) - 1

    def fill(self, polygons: Sequence[np.ndarray], piece: int) -> None:
        fill(self.pieces, polygons, piece)


@dataclass
class Outfit:
    """What one person wears; lengths are fractions of a limb chain or torso-frame heights."""

    top: str  # "upper", "dress" or "jumpsuit"
    top_sleeve: float
    top_hem: float
    top_loose: float
    tucked: bool
    neck_dip: float
    lower: str | None  # "pants" or "skirt" under an upper garment
    leg_length: float  # trousers, jumpsuit legs, or skirt / dress hem along the legs
    waist: float
    flare: float
    coat: bool
    coat_sleeve: float
    coat_hem: float
    coat_gap: float | None  # half-width of the open front; None when closed
    hat: str | None  # "cap", "beanie" or "brim"
    scarf: bool
    sunglasses: bool
    gloves: bool
    socks: float | None  # height as a fraction of the shin
    shoes: str | None  # "shoe" or "boot"
    boot_height: float
    hair: str  # "bald", "short" or "long"
    hair_length: float
    hairline: float
    hair_width: float

    def worn_classes(self) -> list[str]:
        """LIP class names of the garments (some may end up hidden or outside the image)."""
        names = {"upper": "Upper-clothes", "dress": "Dress", "jumpsuit": "Jumpsuits"}
        worn = [names[self.top]]
        if self.lower == "pants":
            worn.append("Pants")
        elif self.lower == "skirt":
            worn.append("Skirt")
        for flag, name in (
            (self.coat, "Coat"),
            (self.hat is not None, "Hat"),
            (self.scarf, "Scarf"),
            (self.sunglasses, "Sunglasses"),
            (self.gloves, "Glove"),
            (self.socks is not None, "Socks"),
            (self.shoes is not None, "Left-shoe"),
            (self.shoes is not None, "Right-shoe"),
        ):
            if flag:
                worn.append(name)
        return worn


def sample_outfit(rng: np.random.Generator) -> Outfit:
    u = rng.uniform
    top = weighted_choice(rng, ("upper", "dress", "jumpsuit"), (0.6, 0.22, 0.18))
    lower = None
    if top == "upper":
        lower = "pants" if rng.random() < 0.6 else "skirt"
    if top == "jumpsuit" or lower == "pants":
        leg_length = weighted_choice(rng, (0.28, 0.5, 0.8, 1.06), (0.25, 0.1, 0.15, 0.5))
        flare = u(1.0, 1.5)
    else:
        leg_length = u(0.22, 0.95)
        flare = u(1.05, 1.9)
    hair = weighted_choice(rng, ("bald", "short", "long"), (0.05, 0.5, 0.45))
    shoes = None if rng.random() < 0.08 else ("boot" if rng.random() < 0.2 else "shoe")
    return Outfit(
        top=top,
        top_sleeve=weighted_choice(rng, (0.0, 0.2, 0.42, 0.7, 1.0), (0.15, 0.3, 0.1, 0.15, 0.3)),
        top_hem=u(-0.5, 0.15) if top == "upper" else 0.7,
        top_loose=u(0.02, 0.12),
        tucked=bool(rng.random() < 0.4),
        neck_dip=u(0.05, 0.3),
        lower=lower,
        leg_length=leg_length,
        waist=u(0.35, 0.85),
        flare=flare,
        coat=bool(rng.random() < 0.3),
        coat_sleeve=pick(rng, (0.75, 0.95)),
        coat_hem=u(-2.2, -0.3),
        coat_gap=None if rng.random() < 0.25 else u(0.06, 0.3),
        hat=None if rng.random() < 0.75 else pick(rng, ("cap", "beanie", "brim")),
        scarf=bool(rng.random() < 0.18),
        sunglasses=bool(rng.random() < 0.22),
        gloves=bool(rng.random() < 0.18),
        socks=u(0.12, 0.8) if rng.random() < 0.45 else None,
        shoes=shoes,
        boot_height=u(0.2, 0.6),
        hair=hair,
        hair_length=u(0.3, 1.8),
        hairline=u(0.25, 0.6),
        hair_width=u(1.03, 1.18) if hair != "long" else u(1.08, 1.3),
    )


ToScreen = Callable[[np.ndarray], np.ndarray]


class PersonPainter:
    """Draws one person onto a :class:`Canvas` in the right depth order for the view."""

    def __init__(
        self,
        canvas: Canvas,
        rng: np.random.Generator,
        body: BodyShape,
        pose: Pose,
        skeleton: Skeleton,
        outfit: Outfit,
        to_screen: ToScreen,
        unit_px: float,
        front: bool,
    ):
        self.canvas = canvas
        self.rng = rng
        self.body = body
        self.pose = pose
        self.sk = skeleton
        self.outfit = outfit
        self.to_screen = to_screen
        self.front = front
        self.unit_px = unit_px
        self.skin_rgb = textures.skin_tone(rng)
        self.hair_rgb = textures.hair_colour(rng)
        self.mat: dict[str, int] = {}
        # Materials are made when first used, so unworn garments cost nothing.
        for name in ("skin", "hair", "top"):
            self.material(name)

    def material(self, name: str) -> int:
        if name not in self.mat:
            rng = self.rng
            if name == "skin":
                m = textures.plain(rng, self.skin_rgb)
            elif name == "hair":
                m = textures.hair(rng, self.hair_rgb, self.unit_px)
            elif name == "eyes":
                m = textures.plain(
                    rng, np.clip(self.hair_rgb * rng.uniform(0.2, 0.6), 0, 255).astype(np.float32)
                )
            elif name == "lips":
                m = textures.plain(
                    rng, np.clip(self.skin_rgb * np.array([0.85, 0.55, 0.55]), 0, 255).astype(np.float32)
                )
            elif name == "sunglasses":
                lens = textures.shared_colour(rng)
                if rng.random() < 0.8:  # mostly dark lenses, but drawn from the shared colours
                    lens = (lens * rng.uniform(0.1, 0.5)).astype(np.float32)
                m = textures.plain(rng, lens, grain=(0.0, 0.04))
            else:  # every garment draws from the same fabric distribution
                m = textures.fabric(rng, self.unit_px)
            self.mat[name] = self.canvas.add_material(m)
        return self.mat[name]

    # -- helpers ---------------------------------------------------------------------
    def piece(self, lip_id: int, material: str, owner: Owner) -> int:
        return self.canvas.add_piece(
            lip_id, self.material(material), owner, float(self.rng.uniform(0.82, 1.12))
        )

    def fill(self, polygons: Sequence[np.ndarray], piece: int) -> None:
        self.canvas.fill([self.to_screen(p) for p in polygons], piece)

    def torso_profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Torso-frame heights (descending) and body half-widths at them."""
        b = self.body
        chest = b.shoulder_half * b.chest_ratio
        waist = b.waist_ratio * 0.5 * (chest + b.hip_width)
        # The shoulder line sits just over the top of the upper arm, so sleeves do not puff above it.
        heights = np.array([b.torso - 0.12 + 0.9 * b.arm_radii[0], b.torso - 0.75, 0.9, 0.0])
        widths = np.array([b.shoulder_width, max(chest, waist), waist, b.hip_width])
        return heights, widths

    def body_half_width(self, height: float) -> float:
        heights, widths = self.torso_profile()
        return float(np.interp(height, heights[::-1], widths[::-1]))

    def torso_outline(
        self, loose: float, hem: float, neck_width: float, neck_dip: float, hem_flare: float = 0.0
    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Left side (top to hem) and neckline of a torso garment, as (across, height) pairs."""
        b = self.body
        heights, widths = self.torso_profile()
        side = [(neck_width, b.torso + 0.15)]
        for i, (h, w) in enumerate(zip(heights, widths)):
            if h > hem:
                side.append((w + loose, float(h) + (0.5 * loose if i == 0 else 0.0)))
        hem_width = (self.body_half_width(hem) if hem >= 0 else b.hip_width) + loose + hem_flare
        side.append((hem_width, hem))
        top = b.torso + 0.15
        neckline = [
            (-0.5 * neck_width, top - 0.75 * neck_dip),
            (0.0, top - neck_dip),
            (0.5 * neck_width, top - 0.75 * neck_dip),
        ]
        return side, neckline

    def from_torso(self, pairs: Sequence[tuple[float, float]]) -> np.ndarray:
        a = np.array(pairs, dtype=np.float64)
        return self.sk.joint("pelvis") + np.outer(a[:, 1], self.sk.up) + np.outer(a[:, 0], self.sk.left)

    def closed_torso(
        self, loose: float, hem: float, neck_width: float, neck_dip: float, hem_flare: float = 0.0
    ) -> np.ndarray:
        side, neckline = self.torso_outline(loose, hem, neck_width, neck_dip, hem_flare)
        mirrored = [(-w, h) for w, h in reversed(side)]
        return self.from_torso(side + mirrored + neckline)

    def open_torso(
        self, loose: float, hem: float, neck_width: float, gap: float, hem_flare: float
    ) -> list[np.ndarray]:
        """Two front panels of an open coat, leaving a gap down the middle."""
        side, _ = self.torso_outline(loose, hem, neck_width, 0.0, hem_flare)
        b = self.body
        inner = [(gap, hem), (gap, b.torso - 1.1), (neck_width * 0.8, b.torso + 0.05)]
        left = side + inner
        right = [(-w, h) for w, h in left]
        return [self.from_torso(left), self.from_torso(right)]

    def leg_chain(self, side: int) -> list[np.ndarray]:
        """Hip, knee, ankle and a point just past the ankle, so trousers can reach the shoe."""
        hip, knee, ankle = self.sk.leg(side)
        return [hip, knee, ankle, ankle + 0.14 * unit(ankle - knee)]

    def leg_radii(self, scale: float = 1.0, extra: float = 0.0) -> list[float]:
        r = self.body.leg_radii
        return [r[0] * scale + extra, r[1] * scale + extra, r[2] * scale + extra, r[2] * scale + extra]

    def shin_fraction(self, side: int, height: float) -> float:
        """Where, along hip-knee-ankle, a garment covering ``height`` of the shin begins."""
        thigh, shin = segment_lengths(self.sk.leg(side))
        return 1.0 - height * shin / max(thigh + shin, 1e-9)

    def leg_fraction(self, side: int, along_leg: float) -> float:
        """Map a fraction of hip-to-ankle onto the extended leg chain."""
        lengths = segment_lengths(self.leg_chain(side))
        return along_leg * (lengths[0] + lengths[1]) / max(sum(lengths), 1e-9)

    # -- body parts ------------------------------------------------------------------
    def arm(self, side: int) -> None:
        o, b = self.outfit, self.body
        pts = self.sk.arm(side)
        radii = list(b.arm_radii)
        owner = ARM_OWNER[side]
        skin = self.piece(ARM[side], "skin", owner)
        self.fill(chain(pts, radii), skin)
        wrist = pts[2]
        hand_dir = unit(self.sk.hand_tips[side] - wrist)
        hand = ellipse(wrist + hand_dir * 0.42 * b.hand, radii[2] * 1.35, 0.5 * b.hand, hand_dir, points=18)
        if o.gloves:
            glove = self.piece(GLOVE, "gloves", owner)
            self.fill([hand] + chain(pts, [r * 1.15 for r in radii], 0.9, 1.0, round_end=False), glove)
        else:
            self.fill([hand], skin)
        if o.top_sleeve > 0:
            top_class = {"upper": UPPER_CLOTHES, "dress": DRESS, "jumpsuit": JUMPSUITS}[o.top]
            sleeve = self.piece(top_class, "top", owner)
            loose = 1.1 + 2.0 * o.top_loose
            sleeve_radii = [radii[0] * 1.05 + 0.01] + [r * loose + 0.02 for r in radii[1:]]
            self.fill(chain(pts, sleeve_radii, 0.0, o.top_sleeve, round_end=False, end_flare=1.1), sleeve)
        if o.coat:
            coat = self.piece(COAT, "coat", owner)
            coat_radii = [radii[0] * 1.15 + 0.04] + [r * 1.35 + 0.06 for r in radii[1:]]
            self.fill(chain(pts, coat_radii, 0.0, o.coat_sleeve, round_end=False, end_flare=1.1), coat)

    def leg(self, side: int) -> None:
        o, b = self.outfit, self.body
        pts = self.leg_chain(side)
        owner = LEG_OWNER[side]
        skin = self.piece(LEG[side], "skin", owner)
        self.fill(chain(pts[:3], list(b.leg_radii)), skin)
        ankle = pts[2]
        foot_centre = self.sk.foot_centres[side]
        turn = self.pose.legs[side].end_bend
        foot = ellipse(
            foot_centre, (0.2 + 0.14 * turn) * b.foot / 0.8, 0.16, np.array([0.0, -1.0]), points=18
        )
        heel = segment(ankle, foot_centre, b.leg_radii[2], 0.15)
        foot_parts = [heel, foot]
        if o.shoes is None:
            self.fill(foot_parts, skin)
        if o.socks is not None:
            socks = self.piece(SOCKS, "socks", owner)
            start = self.shin_fraction(side, o.socks)
            self.fill(chain(pts[:3], self.leg_radii(1.08)[:3], start, 1.0) + foot_parts, socks)
        if o.shoes is not None:
            shoe = self.piece(SHOE[side], "shoes", owner)
            sole = ellipse(
                foot_centre + np.array([0.0, 0.02]),
                (0.23 + 0.15 * turn) * b.foot / 0.8,
                0.18,
                np.array([0.0, -1.0]),
                points=18,
            )
            parts = [segment(ankle, foot_centre, b.leg_radii[2] * 1.15, 0.17), sole]
            if o.shoes == "boot":
                parts += chain(
                    pts[:3], self.leg_radii(1.15, 0.02)[:3], self.shin_fraction(side, o.boot_height), 1.0
                )
            self.fill(parts, shoe)
        if o.lower == "pants" or o.top == "jumpsuit":
            cls, mat = (JUMPSUITS, "top") if o.top == "jumpsuit" else (PANTS, "lower")
            trousers = self.piece(cls, mat, owner)
            loose = 1.05 + 2.5 * o.top_loose
            end = self.leg_fraction(side, o.leg_length)
            self.fill(
                chain(pts, self.leg_radii(loose, 0.03), 0.0, end, round_end=False, end_flare=o.flare),
                trousers,
            )

    def neck(self) -> None:
        b = self.body
        piece = self.piece(FACE, "skin", Owner.HEAD)
        start = self.sk.joint("thorax") - 0.1 * self.sk.up
        end = self.sk.joint("upper_neck") + 0.15 * self.sk.head_up
        self.fill([segment(start, end, b.neck_radius * 1.1, b.neck_radius)], piece)

    def top(self) -> None:
        o, b = self.outfit, self.body
        cls = {"upper": UPPER_CLOTHES, "dress": DRESS, "jumpsuit": JUMPSUITS}[o.top]
        piece = self.piece(cls, "top", Owner.TORSO)
        dip = o.neck_dip if self.front else 0.04
        self.fill([self.closed_torso(o.top_loose, o.top_hem, b.neck_radius + 0.05, dip)], piece)
        if o.top == "dress":
            self.fill([self.skirt_outline(0.9, o.top_loose)], self.piece(DRESS, "top", Owner.LOWER))

    def seat(self) -> None:
        """The waist and seat of trousers or a jumpsuit, joining the two legs."""
        o, b = self.outfit, self.body
        cls, mat = (JUMPSUITS, "top") if o.top == "jumpsuit" else (PANTS, "lower")
        loose = o.top_loose + 0.03
        waist = o.waist if o.top != "jumpsuit" else 1.2
        w_top = self.body_half_width(waist) + loose
        w_hip = b.hip_width + loose
        crotch = -0.35 - 0.3 * b.leg_radii[0]
        pairs = [
            (w_top, waist),
            (w_hip, 0.0),
            (w_hip, crotch + 0.1),
            (0.0, crotch - 0.1),
            (-w_hip, crotch + 0.1),
            (-w_hip, 0.0),
            (-w_top, waist),
        ]
        self.fill([self.from_torso(pairs)], self.piece(cls, mat, Owner.LOWER))

    def skirt_outline(self, waist: float, loose: float) -> np.ndarray:
        """A flared skirt from ``waist`` (torso frame) to a hem over the legs."""
        o, b = self.outfit, self.body
        w_top = self.body_half_width(waist) + loose
        w_hip = b.hip_width + loose + 0.05
        points = []
        for s in SIDES:
            f = self.leg_fraction(s, o.leg_length)
            points.append(chain_point(self.leg_chain(s), f))
        r = b.leg_radii[0] * (1 - o.leg_length) + b.leg_radii[2] * o.leg_length
        pelvis = self.sk.joint("pelvis")
        hem_y = max(p[1] for p in points) + 0.12
        right_x = min(min(p[0] for p in points) - 1.35 * r, pelvis[0] - w_hip * o.flare)
        left_x = max(max(p[0] for p in points) + 1.35 * r, pelvis[0] + w_hip * o.flare)
        top = self.from_torso([(w_top, waist), (w_hip, 0.0)])
        top_right = self.from_torso([(-w_hip, 0.0), (-w_top, waist)])
        # A gently waved hem, like folds.
        t = np.linspace(0.0, 1.0, 9)
        hem_x = left_x + t * (right_x - left_x)
        wave = 0.06 * np.sin(t * math.pi * self.rng.integers(3, 8)) * (left_x - right_x)
        hem = np.stack([hem_x, hem_y + wave * 0.3], axis=1)
        return np.concatenate([top, hem, top_right])

    def skirt(self) -> None:
        o = self.outfit
        self.fill([self.skirt_outline(o.waist, o.top_loose + 0.02)], self.piece(SKIRT, "lower", Owner.LOWER))

    def coat(self) -> None:
        o, b = self.outfit, self.body
        loose = o.top_loose + 0.12
        flare = 0.12 * abs(o.coat_hem) + 0.05
        neck = b.neck_radius + 0.12
        piece = self.piece(COAT, "coat", Owner.TORSO)
        if self.front and o.coat_gap is not None:
            panels = self.open_torso(loose, o.coat_hem, neck, o.coat_gap, flare)
        else:
            panels = [self.closed_torso(loose, o.coat_hem, neck, 0.2 if self.front else 0.04, flare)]
        self.fill(panels, piece)

    def scarf(self) -> None:
        b = self.body
        piece = self.piece(SCARF, "scarf", Owner.TORSO)
        t = b.torso
        r = b.neck_radius
        band = segment(
            self.sk.torso_point(-(r + 0.12), t + 0.12), self.sk.torso_point(r + 0.12, t + 0.12), 0.2, 0.2
        )
        parts = [band]
        if self.front:
            side = SIDES[int(self.rng.integers(2))]
            length = self.rng.uniform(0.8, 2.0)
            start = self.sk.torso_point(side * 0.25, t + 0.05)
            end = self.sk.torso_point(side * self.rng.uniform(0.15, 0.45), t - length)
            parts.append(segment(start, end, 0.19, 0.17, round_end=False))
        self.fill(parts, piece)

    def head_frame(self) -> tuple[np.ndarray, float, float]:
        b = self.body
        centre = self.sk.joint("upper_neck") + self.sk.head_up * 0.45 * b.head
        half_h = 0.55 * b.head
        return centre, half_h * b.head_aspect, half_h

    def long_hair(self) -> None:
        o = self.outfit
        c, a, _ = self.head_frame()
        up = self.sk.head_up
        end = self.sk.joint("upper_neck") - up * o.hair_length
        piece = self.piece(HAIR, "hair", Owner.HEAD)
        self.fill(
            [segment(c, end, a * o.hair_width * 1.02, a * o.hair_width * self.rng.uniform(0.9, 1.2))], piece
        )

    def head(self) -> None:
        o = self.outfit
        c, a, bh = self.head_frame()
        up = self.sk.head_up
        across = np.array([-up[1], up[0]])
        hair_c = c + up * 0.06 * bh
        hair_a, hair_b = a * o.hair_width, bh * 1.05
        face = self.piece(FACE, "skin", Owner.HEAD)
        hair = self.piece(HAIR, "hair", Owner.HEAD) if o.hair != "bald" else None
        ears = [
            ellipse(c + s * across * a * 0.95 - up * 0.05 * bh, 0.11 * bh, 0.2 * bh, up, points=12)
            for s in SIDES
        ]
        if self.front:
            if hair is not None:
                self.fill([ellipse(hair_c, hair_a, hair_b, up)], hair)
            if o.hair != "long":
                self.fill(ears, face)
            self.fill([ellipse(c - up * 0.02 * bh, a * 0.97, bh * 0.97, up)], face)
            if hair is not None:
                self.fill([ellipse_cap(hair_c, hair_a, hair_b, up, o.hairline)], hair)
            self.face_features(c, a, bh, up, across, face)
        else:
            self.fill([ellipse(c, a, bh, up)] + ([] if o.hair == "long" else ears), face)
            if hair is not None:
                level = -self.rng.uniform(0.65, 0.9) if o.hair == "short" else -1.0
                self.fill([ellipse_cap(hair_c, hair_a, hair_b, up, level)], hair)
                if o.hair == "long":
                    self.long_hair()
        if o.hat is not None:
            self.hat(c, a, bh, up)

    def face_features(
        self, c: np.ndarray, a: float, bh: float, up: np.ndarray, across: np.ndarray, face: int
    ) -> None:
        o = self.outfit
        features = self.canvas.add_piece(FACE, self.material("eyes"), Owner.HEAD, 1.0)
        eye_level = c + up * 0.12 * bh
        eyes = [eye_level + s * across * 0.38 * a for s in SIDES]
        brows = [
            segment(
                e + up * 0.2 * bh - across * 0.15 * a,
                e + up * 0.22 * bh + across * 0.15 * a,
                0.03 * bh,
                0.03 * bh,
            )
            for e in eyes
        ]
        self.fill([ellipse(e, 0.15 * a, 0.07 * bh, up, points=12) for e in eyes] + brows, features)
        lips = self.canvas.add_piece(FACE, self.material("lips"), Owner.HEAD, 1.0)
        self.fill([ellipse(c - up * 0.5 * bh, 0.3 * a, 0.07 * bh, up, points=12)], lips)
        if o.sunglasses:
            glasses = self.piece(SUNGLASSES, "sunglasses", Owner.HEAD)
            lenses = [ellipse(e - up * 0.02 * bh, 0.34 * a, 0.2 * bh, up, points=16) for e in eyes]
            bridge = segment(eyes[0], eyes[1], 0.05 * bh, 0.05 * bh)
            self.fill(lenses + [bridge], glasses)

    def hat(self, c: np.ndarray, a: float, bh: float, up: np.ndarray) -> None:
        o = self.outfit
        piece = self.piece(HAT, "hat", Owner.HEAD)
        if o.hat == "cap":
            parts = [ellipse_cap(c + up * 0.08 * bh, a * 1.1, bh * 1.08, up, 0.3)]
            if self.front:
                parts.append(ellipse(c + up * 0.42 * bh, a * 1.15, 0.13 * bh, up))
        elif o.hat == "beanie":
            parts = [ellipse_cap(c + up * 0.06 * bh, a * 1.12, bh * 1.12, up, 0.05)]
        else:
            parts = [
                ellipse_cap(c + up * 0.35 * bh, a * 0.98, bh * 0.95, up, 0.0),
                ellipse(c + up * 0.38 * bh, a * self.rng.uniform(1.6, 2.2), 0.2 * bh, up),
            ]
        self.fill(parts, piece)

    # -- the whole figure ------------------------------------------------------------
    def draw(self) -> None:
        o = self.outfit
        front = self.front
        # An arm in front of the body is drawn over the torso in a front view and hidden
        # behind it in a back view; a back view also reverses which leg is nearer.
        # Sides at the same depth are drawn in random order, so neither always wins overlaps.
        sides = list(SIDES) if self.rng.random() < 0.5 else list(reversed(SIDES))
        late_arms = [s for s in sides if self.pose.arms[s].in_front == front]
        early_arms = [s for s in sides if s not in late_arms]
        legs = sorted(sides, key=lambda s: self.pose.legs[s].in_front == front)
        if front and o.hair == "long":
            self.long_hair()
        for s in early_arms:
            self.arm(s)
        for s in legs:
            self.leg(s)
        self.neck()
        has_seat = o.lower == "pants" or o.top == "jumpsuit"
        if o.tucked:
            self.top()
        if has_seat:
            self.seat()
        if o.lower == "skirt":
            self.skirt()
        if not o.tucked:
            self.top()
        if o.coat:
            self.coat()
        if o.scarf:
            self.scarf()
        self.head()
        for s in late_arms:
            self.arm(s)
