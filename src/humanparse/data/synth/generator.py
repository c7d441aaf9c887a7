"""Synthetic scenes: a cluttered background, one articulated person, occluders.

``SyntheticHumans(size, seed).generate(index)`` is a pure function of (seed, index),
so the generator doubles as an in-memory dataset of any length.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import cv2
import numpy as np

from ...schemas.lip import JOINTS16, LIP, LIP_JOINTS
from ..sample import MISSING, OCCLUDED, VISIBLE, Sample
from . import textures
from .figure import BACKGROUND, JOINT_OWNERS, Canvas, Owner, PersonPainter, sample_outfit
from .geometry import ellipse, segment
from .pose import BodyShape, Skeleton, build_skeleton, sample_body, sample_pose
from .sampling import pick, weighted_choice

MIN_SIZE = 64

# Seed-sequence domain tags keep the per-image streams apart from the shared noise bank.
_IMAGE_STREAM = 1
_BANK_STREAM = 2
_CLUTTER_STREAM = 3  # clutter and occluders draw from their own stream: the person is the same at any clutter

FRAMINGS = ("full", "upper", "small", "edge")
FRAMING_WEIGHTS = np.array([0.5, 0.32, 0.1, 0.08])


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) as ints, or a ValueError saying what is wrong."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be two integers (height, width), got {size!r}") from None
    if (height, width) != tuple(size):
        raise ValueError(f"size must be two integers (height, width), got {size!r}")
    if height < MIN_SIZE or width < MIN_SIZE:
        raise ValueError(f"size {height}x{width} is too small; each side must be at least {MIN_SIZE} pixels")
    return height, width


def check_clutter(clutter: float) -> float:
    """``clutter`` scales how busy scenes are: 1 is the full mix (clutter in the person's own
    colours, occluders); 0 leaves a plain textured background and an optional floor, which a
    small network learns from in minutes (the demo, learning tests)."""
    if isinstance(clutter, bool) or not isinstance(clutter, (int, float)) or not 0.0 <= clutter <= 1.0:
        raise ValueError(f"clutter must be a number in [0, 1], got {clutter!r}")
    return float(clutter)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class SyntheticHumans:
    """Seeded images of articulated people labelled with LIP's 20 classes and 16 joints.

    ``generate(index)`` returns a :class:`Sample` with an RGB image, a LIP label map
    (0 = background), keypoints of shape (1, 16, 3) in LIP/MPII order with
    VISIBLE / OCCLUDED / MISSING flags, and meta: ``id``, ``index``, ``seed``, ``view``
    ("front" or "back"), ``framing``, ``outfit`` (LIP class names worn) and
    ``joint_positions`` (16, 2), every joint's position including those outside the image.
    As a dataset it has ``length`` items; ``transform`` (if given) maps each sample.
    """

    schema = LIP
    joint_names = JOINTS16

    def __init__(
        self,
        size: tuple[int, int] = (256, 256),
        seed: int = 0,
        length: int = 1000,
        transform: Callable[[Sample], Any] | None = None,
        clutter: float = 1.0,
    ):
        self.size = check_size(size)
        self.seed = check_seed(seed)
        self.clutter = check_clutter(clutter)
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"length must be a non-negative integer, got {length!r}")
        self.length = int(length)
        self.transform = transform
        self.bank = self._make_bank()

    def _make_bank(self) -> textures.NoiseBank:
        return textures.NoiseBank(
            np.random.default_rng(np.random.SeedSequence([_BANK_STREAM, self.seed])), *self.size
        )

    # The noise bank is megabytes but a pure function of the seed: data-loader workers
    # rebuild it rather than receive it pickled.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "bank"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.bank = self._make_bank()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index must be an integer, got {type(index).__name__}")
        i = int(index) + (self.length if index < 0 else 0)
        if not 0 <= i < self.length:
            raise IndexError(f"index {index} out of range for {self.length} synthetic samples")
        sample = self.generate(i)
        return self.transform(sample) if self.transform is not None else sample

    # -- one scene -------------------------------------------------------------------
    def generate(self, index: int) -> Sample:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"index must be a non-negative integer, got {index!r}")
        rng = np.random.default_rng(np.random.SeedSequence([_IMAGE_STREAM, self.seed, int(index)]))
        clutter_rng = np.random.default_rng(np.random.SeedSequence([_CLUTTER_STREAM, self.seed, int(index)]))
        height, width = self.size
        canvas = Canvas(height, width)
        canvas.add_material(textures.background_material(rng, min(height, width)))  # piece 0's material

        body = sample_body(rng)
        pose = sample_pose(rng)
        skeleton = build_skeleton(body, pose)
        outfit = sample_outfit(rng)
        front = bool(rng.random() < 0.5)
        framing = weighted_choice(rng, FRAMINGS, FRAMING_WEIGHTS)
        linear, offset = self._placement(rng, skeleton, body, front, framing)
        unit_px = float(abs(np.linalg.det(linear)) ** 0.5)

        def to_screen(points: np.ndarray) -> np.ndarray:
            return points @ linear.T + offset

        painter = PersonPainter(canvas, rng, body, pose, skeleton, outfit, to_screen, unit_px, front)
        clutter = self._background(canvas, clutter_rng, list(painter.mat.values()))
        painter.draw()
        joints = to_screen(skeleton.joints)
        self._occluders(canvas, clutter_rng, joints, unit_px, clutter)

        count = len(canvas.piece_class)
        class_lut = np.zeros(256, dtype=np.uint8)
        class_lut[:count] = canvas.piece_class
        owner_lut = np.zeros(256, dtype=np.uint8)
        owner_lut[:count] = canvas.piece_owner
        label = cv2.LUT(canvas.pieces, class_lut)
        keypoints = self._keypoints(joints, canvas.pieces, owner_lut)
        image = self._render(canvas, rng)
        meta = {
            "id": f"synth_{int(index):06d}",
            "index": int(index),
            "seed": self.seed,
            "view": "front" if front else "back",
            "framing": framing,
            "outfit": outfit.worn_classes(),
            "schema": LIP.name,
            "joint_schema": LIP_JOINTS.name,
            "joint_positions": joints.astype(np.float32),
        }
        return Sample(image=image, label=label, keypoints=keypoints[None], meta=meta)

    def _placement(
        self, rng: np.random.Generator, skeleton: Skeleton, body: BodyShape, front: bool, framing: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The person-to-image map: rotation, mirror for back views, scale, shift."""
        height, width = self.size
        angle = float(np.clip(rng.normal(0, 0.06), -0.2, 0.2))
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        # A back view is the same pose seen from behind: the person's left moves to the image's left.
        mirror = np.diag([1.0 if front else -1.0, 1.0])
        a = rotation @ mirror
        head_top = skeleton.joint("head_top")
        outline = (
            np.concatenate(
                [
                    skeleton.joints,
                    np.stack(list(skeleton.hand_tips.values())),
                    np.stack(list(skeleton.foot_centres.values())) + np.array([0.0, 0.25]),
                    head_top[None] + np.array([[-0.5, 0.0], [0.5, 0.0]]),
                ]
            )
            @ a.T
        )
        margin = 0.2 * body.shoulder_half  # limbs are wider than their joints
        lo, hi = outline.min(axis=0) - margin, outline.max(axis=0) + margin
        extent = hi - lo
        if framing == "upper":
            top = float((head_top @ a.T)[1]) - margin
            pelvis = skeleton.joint("pelvis") @ a.T
            scale = rng.uniform(0.5, 0.85) * height / max(float(pelvis[1]) - top, 1e-6)
            y0 = rng.uniform(0.02, 0.12) * height - scale * top
            thorax = skeleton.joint("thorax") @ a.T
            x0 = width * (0.5 + rng.uniform(-0.12, 0.12)) - scale * float(thorax[0])
            return scale * a, np.array([x0, y0])
        fraction = rng.uniform(0.22, 0.5) if framing == "small" else rng.uniform(0.6, 0.98)
        scale = min(fraction * height / extent[1], 0.96 * width / extent[0])
        box = scale * extent
        y0 = rng.uniform(-0.04 * height, max(height - box[1], 0.0) + 0.04 * height) - scale * lo[1]
        if framing == "edge":
            cut = rng.uniform(0.2, 0.5) * box[0]
            x_left = -cut if rng.random() < 0.5 else width - box[0] + cut
        else:
            x_left = rng.uniform(-0.02 * width, max(width - box[0], 0.0) + 0.02 * width)
        return scale * a, np.array([x_left - scale * lo[0], y0])

    def _background(self, canvas: Canvas, rng: np.random.Generator, person_materials: list[int]) -> list[int]:
        """Textured clutter in the shared colours, some of it in the person's own colours."""
        height, width = self.size
        side = min(height, width)
        pool = [
            canvas.add_material(textures.background_material(rng, side))
            for _ in range(int(rng.integers(2, 6)))
        ]
        if rng.random() < 0.5:  # skin-toned things that are not people
            skin = canvas.add_material(textures.plain(rng, textures.skin_tone(rng), grain=(0.02, 0.1)))
            if self.clutter > 0:
                pool.append(skin)
        if rng.random() < 0.5 * self.clutter:  # something in exactly the colours of one of the garments or the skin
            pool.append(person_materials[int(rng.integers(len(person_materials)))])
        if rng.random() < 0.5:  # a floor
            y = rng.uniform(0.45, 0.9) * height
            tilt = rng.uniform(-0.1, 0.1) * width
            floor = np.array(
                [[-1, y - tilt], [width, y + tilt], [width, height], [-1, height]], dtype=np.float64
            )
            canvas.fill([floor], self._background_piece(canvas, rng, pool))
        for _ in range(round(int(rng.integers(4, 22)) * self.clutter)):
            piece = self._background_piece(canvas, rng, pool)
            canvas.fill([_random_shape(rng, height, width, side * rng.uniform(0.04, 0.45))], piece)
        return pool

    @staticmethod
    def _background_piece(canvas: Canvas, rng: np.random.Generator, pool: list[int]) -> int:
        return canvas.add_piece(
            BACKGROUND, pool[int(rng.integers(len(pool)))], Owner.BACKGROUND, float(rng.uniform(0.8, 1.15))
        )

    def _occluders(
        self, canvas: Canvas, rng: np.random.Generator, joints: np.ndarray, unit_px: float, pool: list[int]
    ) -> None:
        """Objects in front of the person: a post, a box or a blob over the body."""
        if rng.random() >= 0.3 * self.clutter:
            return
        height = self.size[0]
        lo, hi = joints.min(axis=0), joints.max(axis=0)
        for _ in range(int(rng.integers(1, 3))):
            piece = canvas.add_piece(
                BACKGROUND, pool[int(rng.integers(len(pool)))], Owner.OCCLUDER, float(rng.uniform(0.8, 1.15))
            )
            kind = pick(rng, ("post", "box", "blob"))
            if kind == "post":
                x = rng.uniform(lo[0], hi[0])
                half = rng.uniform(0.15, 0.5) * unit_px
                top = rng.uniform(-0.1, 0.6) * height
                lean = rng.uniform(-0.1, 0.1) * height
                shape = np.array(
                    [
                        [x - half, top],
                        [x + half, top],
                        [x + half + lean, height + 1],
                        [x - half + lean, height + 1],
                    ]
                )
            elif kind == "box":
                y = rng.uniform(lo[1] + 0.4 * (hi[1] - lo[1]), hi[1])
                x0, x1 = sorted(rng.uniform(lo[0] - 2 * unit_px, hi[0] + 2 * unit_px, 2))
                shape = np.array([[x0, y], [x1, y], [x1, height + 1], [x0, height + 1]])
            else:
                centre = joints[int(rng.integers(len(joints)))] + rng.normal(0, 0.5 * unit_px, 2)
                r = rng.uniform(0.4, 1.2) * unit_px
                shape = ellipse(centre, r * rng.uniform(0.6, 1.4), r, np.array([0.0, -1.0]))
            canvas.fill([shape], piece)

    def _keypoints(self, joints: np.ndarray, pieces: np.ndarray, owner_lut: np.ndarray) -> np.ndarray:
        height, width = self.size
        keypoints = np.full((len(JOINTS16), 3), np.nan, dtype=np.float32)
        keypoints[:, 2] = MISSING
        for j, name in enumerate(JOINTS16):
            x, y = joints[j]
            # Pixel i covers [i - 0.5, i + 0.5): a joint outside every pixel is truncated away.
            if not (-0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5):
                continue
            owner = Owner(int(owner_lut[pieces[int(round(y)), int(round(x))]]))
            seen = owner == Owner.BACKGROUND or owner in JOINT_OWNERS[name]
            keypoints[j] = (x, y, VISIBLE if seen else OCCLUDED)
        return keypoints

    def _render(self, canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
        """Colour every pixel from its material's ramp, then add noise, shading and light."""
        height, width = self.size
        pieces = canvas.pieces
        materials = canvas.materials
        lut = np.zeros(256, dtype=np.uint8)
        lut[: len(canvas.piece_material)] = canvas.piece_material
        material_map = cv2.LUT(pieces, lut)
        flat = material_map.reshape(-1)

        # Pattern weights, computed only at the pixels of patterned materials.
        weights = np.zeros(height * width, dtype=np.uint8)
        patterned = [m for m, mat in enumerate(materials) if mat.pattern != textures.Pattern.SOLID]
        if patterned:
            mottle = self.bank.field(textures.NoiseBank.MID, rng).reshape(-1)
            for m in patterned:
                idx = np.flatnonzero(flat == m)
                if idx.size:
                    ys = idx // width
                    weights[idx] = materials[m].weights(ys, idx - ys * width, mottle[idx])
        ramps = np.stack([mat.ramp() for mat in materials])  # (materials, 256, 3)
        ramps *= rng.uniform(0.88, 1.12, 3).astype(np.float32)  # white balance
        codes = (material_map.astype(np.intp) << 8) | weights.reshape(height, width)
        image = np.take(ramps.reshape(-1, 3), codes, axis=0)

        # Per-pixel brightness: the piece's shade, the material's coarse and fine noise,
        # a soft darkening along every outline (so parts read as rounded and overlapping),
        # light falling off across the scene and an overall exposure.
        shade_lut = np.ones(256, dtype=np.float32)
        shade_lut[: len(canvas.piece_shade)] = canvas.piece_shade
        shade = cv2.LUT(pieces, shade_lut)
        grain_lut = np.zeros(256, dtype=np.float32)
        grain_lut[: len(materials)] = [mat.grain for mat in materials]
        blotch_lut = np.zeros(256, dtype=np.float32)
        blotch_lut[: len(materials)] = [mat.blotch for mat in materials]
        noise = cv2.LUT(material_map, grain_lut) * self.bank.field(textures.NoiseBank.FINE, rng)
        noise += cv2.LUT(material_map, blotch_lut) * self.bank.field(textures.NoiseBank.COARSE, rng)
        edges = np.zeros((height, width), dtype=np.float32)
        across = pieces[:, 1:] != pieces[:, :-1]
        down = pieces[1:, :] != pieces[:-1, :]
        edges[:, 1:] += across
        edges[:, :-1] += across
        edges[1:, :] += down
        edges[:-1, :] += down
        sigma = min(max(0.8, min(height, width) / 160.0) * rng.uniform(0.7, 1.6), 2.5)
        edges = cv2.GaussianBlur(edges, (0, 0), sigma)
        noise -= np.float32(rng.uniform(0.08, 0.3)) * np.minimum(edges, 1.0)
        gy = np.linspace(-0.5, 0.5, height, dtype=np.float32) * np.float32(rng.uniform(-0.4, 0.4))
        gx = np.linspace(-0.5, 0.5, width, dtype=np.float32) * np.float32(rng.uniform(-0.4, 0.4))
        noise += gy[:, None]
        noise += gx[None, :]
        noise += 1.0
        shade *= noise
        shade *= np.float32(rng.uniform(0.8, 1.15))
        image = cv2.multiply(image, cv2.merge([shade, shade, shade]))
        image = cv2.scaleAdd(self.bank.grain_image(rng), float(rng.uniform(1.0, 7.0)), image)
        np.maximum(image, 0.0, out=image)
        out = cv2.convertScaleAbs(image)  # rounds and saturates at 255
        if rng.random() < 0.6:
            out = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.4, 0.9))
        return out


def _random_shape(rng: np.random.Generator, height: int, width: int, size: float) -> np.ndarray:
    """A rectangle, ellipse, irregular polygon, bar or bent limb-like band somewhere in the image."""
    centre = np.array([rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height])
    kind = int(rng.integers(5))
    if kind == 0:
        angle = 0.0 if rng.random() < 0.5 else rng.uniform(0, math.pi)
        w, h = size * rng.uniform(0.3, 1.0), size * rng.uniform(0.3, 1.5)
        c, s = math.cos(angle), math.sin(angle)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        return centre + corners @ np.array([[c, s], [-s, c]])
    if kind == 1:
        return ellipse(
            centre,
            size * rng.uniform(0.2, 0.6),
            size * rng.uniform(0.2, 0.6),
            np.array([math.cos(rng.uniform(0, math.pi)), math.sin(rng.uniform(0, math.pi))]),
        )
    if kind == 2:
        n = int(rng.integers(5, 10))
        t = np.sort(rng.uniform(0, 2 * math.pi, n))
        r = size * rng.uniform(0.25, 0.6, n)
        return centre + np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    end = centre + rng.normal(0, size, 2)
    if kind == 3:
        return segment(
            centre, end, size * rng.uniform(0.03, 0.12), size * rng.uniform(0.03, 0.12), False, False
        )
    r = size * rng.uniform(0.06, 0.14)
    return segment(centre, end, r, r * rng.uniform(0.6, 1.0))
