"""Colours and textures of the synthetic scenes.

Colour must not give a class away, so every garment and every background object draws
its colours from one shared distribution, which itself overlaps the skin and hair
tones. Patterns are evaluated only at the pixels a material covers, with NumPy over
coordinate arrays, and noise comes from periodic fields built once per generator.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from enum import IntEnum

import cv2
import numpy as np

from .sampling import weighted_index

# Skin tones from pale to deep; a tone is drawn between two neighbours.
SKIN_ANCHORS = np.array(
    [
        (255, 226, 204),
        (241, 194, 167),
        (226, 170, 130),
        (204, 142, 98),
        (170, 110, 72),
        (128, 80, 50),
        (92, 56, 36),
        (62, 38, 26),
    ],
    dtype=np.float32,
)
HAIR_ANCHORS = np.array(
    [
        (18, 15, 14),
        (40, 28, 22),
        (70, 48, 32),
        (110, 74, 46),
        (150, 90, 50),
        (200, 160, 100),
        (225, 200, 150),
        (160, 158, 155),
        (225, 222, 215),
    ],
    dtype=np.float32,
)
# Common fabric colours: denim, navy, khaki, olive, burgundy, cream, charcoal, camel.
FABRIC_ANCHORS = np.array(
    [
        (60, 80, 120),
        (30, 38, 70),
        (190, 170, 120),
        (95, 100, 60),
        (110, 30, 45),
        (235, 228, 205),
        (55, 55, 60),
        (185, 140, 90),
    ],
    dtype=np.float32,
)


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour + rng.uniform(-amount, amount, 3), 0, 255).astype(np.float32)


def _between_anchors(rng: np.random.Generator, anchors: np.ndarray) -> np.ndarray:
    t = rng.uniform(0, len(anchors) - 1)
    i = min(int(t), len(anchors) - 2)
    f = t - i
    return (1 - f) * anchors[i] + f * anchors[i + 1]


def hsv_colour(hue: float, saturation: float, value: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return np.array((255 * r, 255 * g, 255 * b), dtype=np.float32)


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    return _jitter(rng, _between_anchors(rng, SKIN_ANCHORS), 10)


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.08:  # dyed
        return hsv_colour(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9))
    return _jitter(rng, HAIR_ANCHORS[rng.integers(len(HAIR_ANCHORS))], 14)


def shared_colour(rng: np.random.Generator) -> np.ndarray:
    """One draw from the colour distribution shared by garments and background objects."""
    r = rng.random()
    if r < 0.42:
        return hsv_colour(rng.random(), rng.uniform(0.15, 1.0), rng.uniform(0.15, 1.0))
    if r < 0.62:  # neutrals, faintly tinted
        grey = rng.uniform(10, 245)
        return _jitter(rng, np.full(3, grey, dtype=np.float32), 10)
    if r < 0.74:
        return _jitter(rng, FABRIC_ANCHORS[rng.integers(len(FABRIC_ANCHORS))], 20)
    if r < 0.88:
        return skin_tone(rng)
    return hair_colour(rng)


class Pattern(IntEnum):
    SOLID = 0
    STRIPES = 1
    CHECKS = 2
    PLAID = 3
    DOTS = 4
    MOTTLED = 5
    GRADIENT = 6


FABRIC_PATTERN_WEIGHTS = np.array([0.34, 0.2, 0.1, 0.1, 0.1, 0.11, 0.05])
BACKGROUND_PATTERN_WEIGHTS = np.array([0.2, 0.16, 0.14, 0.1, 0.08, 0.2, 0.12])


def _periodic_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise that tiles with period ``size``, scaled to [-1, 1]."""
    grid = rng.random((cells, cells)).astype(np.float32)
    big = cv2.resize(np.tile(grid, (3, 3)), (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
    field = big[size : 2 * size, size : 2 * size]
    lo, hi = float(field.min()), float(field.max())
    return (2.0 * (field - lo) / max(hi - lo, 1e-6) - 1.0).astype(np.float32)


class NoiseBank:
    """Periodic noise (coarse blotches, mid-scale mottling, fine weave) and pixel grain,
    built once per seed and tiled to the image size, so an image takes its noise as a
    slice at a random offset without computing any."""

    SIZE = 256
    COARSE, MID, FINE = 0, 1, 2

    def __init__(self, rng: np.random.Generator, height: int, width: int):
        self.height, self.width = height, width
        self.fields = [self._tile(_periodic_noise(rng, self.SIZE, cells)) for cells in (5, 24, 96)]
        self.grain = self._tile(rng.standard_normal((self.SIZE, self.SIZE, 3)).astype(np.float32))

    def _tile(self, pattern: np.ndarray) -> np.ndarray:
        h, w = self.height + self.SIZE, self.width + self.SIZE
        reps = (-(-h // self.SIZE), -(-w // self.SIZE)) + (1,) * (pattern.ndim - 2)
        return np.ascontiguousarray(np.tile(pattern, reps)[:h, :w])

    def field(self, which: int, rng: np.random.Generator) -> np.ndarray:
        """An image-sized window of one noise field, values in [-1, 1]."""
        oy, ox = (int(v) for v in rng.integers(self.SIZE, size=2))
        return self.fields[which][oy : oy + self.height, ox : ox + self.width]

    def grain_image(self, rng: np.random.Generator) -> np.ndarray:
        oy, ox = (int(v) for v in rng.integers(self.SIZE, size=2))
        return self.grain[oy : oy + self.height, ox : ox + self.width]


@dataclass
class Material:
    """A colour pattern over image coordinates.

    A pattern gives each pixel a weight 0..255 along the material's colour ramp
    (``colours``: (3, 3) float32 RGB; plaid mixes in the third colour). ``period`` is in
    pixels. ``grain`` and ``blotch`` are the strengths of fine and coarse luminance noise.
    """

    pattern: Pattern
    colours: np.ndarray
    angle: float = 0.0
    period: float = 8.0
    duty: float = 0.5
    grain: float = 0.05
    blotch: float = 0.05

    def ramp(self) -> np.ndarray:
        """(256, 3) float32 colours by pattern weight."""
        c0, c1, c2 = (np.asarray(c, dtype=np.float32) for c in self.colours)
        if self.pattern == Pattern.PLAID:
            out = np.empty((256, 3), dtype=np.float32)
            out[:] = c0
            out[85] = c0 + 0.6 * (c1 - c0)
            out[170] = c0 + 0.6 * (c2 - c0)
            out[255] = c0 + 0.6 * (c1 - c0) + 0.6 * (c2 - c0)
            return out
        t = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
        return c0 + t * (c1 - c0)

    def weights(self, ys: np.ndarray, xs: np.ndarray, mottle: np.ndarray) -> np.ndarray | None:
        """uint8 ramp positions at pixels (ys, xs); None for a solid colour (all zero).

        ``mottle`` holds the image's mid-scale noise at the same pixels.
        """
        pattern = self.pattern
        if pattern == Pattern.SOLID:
            return None
        if pattern == Pattern.MOTTLED:
            t = np.clip(mottle * np.float32(1.5) + np.float32(self.duty), 0.0, 1.0)
            return (t * 255).astype(np.uint8)
        cos, sin = np.float32(np.cos(self.angle) / self.period), np.float32(np.sin(self.angle) / self.period)
        fx, fy = xs.astype(np.float32), ys.astype(np.float32)
        u = fx * cos + fy * sin
        if pattern == Pattern.GRADIENT:
            t = np.clip((u * np.float32(0.125)) - np.float32(self.duty), 0.0, 1.0)
            return (t * 255).astype(np.uint8)
        u -= np.floor(u)
        if pattern == Pattern.STRIPES:
            return (u < self.duty).view(np.uint8) * np.uint8(255)
        v = fy * cos - fx * sin
        v -= np.floor(v)
        if pattern == Pattern.CHECKS:
            return ((u < 0.5) ^ (v < 0.5)).view(np.uint8) * np.uint8(255)
        if pattern == Pattern.DOTS:
            u -= 0.5
            v -= 0.5
            return (u * u + v * v < self.duty * self.duty * 0.25).view(np.uint8) * np.uint8(255)
        # PLAID: two crossing sets of bands, in two more colours
        return (u < self.duty).view(np.uint8) * np.uint8(85) + (v < self.duty).view(np.uint8) * np.uint8(170)


def _partner_colour(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """A second pattern colour: another shared draw, or a lighter/darker shade."""
    if rng.random() < 0.5:
        return shared_colour(rng)
    return np.clip(colour * rng.uniform(0.45, 1.5), 0, 255).astype(np.float32)


def patterned_material(
    rng: np.random.Generator, base: np.ndarray, period_px: tuple[float, float], weights: np.ndarray
) -> Material:
    pattern = Pattern(weighted_index(rng, weights))
    colours = np.stack([base, _partner_colour(rng, base), shared_colour(rng)])
    if rng.random() < 0.6:  # garments and walls tend to run straight
        angle = float((0.0 if rng.random() < 0.5 else np.pi / 2) + rng.normal(0, 0.08))
    else:
        angle = float(rng.uniform(0, np.pi))
    period = float(max(2.5, rng.uniform(*period_px)))
    duty = float(rng.uniform(0.25, 0.75))
    if pattern == Pattern.GRADIENT:  # where the ramp starts, in ramp lengths from the origin
        duty = float(rng.uniform(-1.0, 2.0))
        period = float(rng.uniform(0.05, 0.15) * period_px[1] / 0.2)
    return Material(
        pattern=pattern,
        colours=colours,
        angle=angle,
        period=period,
        duty=duty,
        grain=float(rng.uniform(0.02, 0.14)),
        blotch=float(rng.uniform(0.0, 0.12)),
    )


def fabric(rng: np.random.Generator, unit_px: float, base: np.ndarray | None = None) -> Material:
    """A garment's material; ``unit_px`` (pixels per head height) sets the pattern scale."""
    colour = shared_colour(rng) if base is None else base
    return patterned_material(rng, colour, (0.08 * unit_px, 0.45 * unit_px), FABRIC_PATTERN_WEIGHTS)


def background_material(rng: np.random.Generator, image_size: int) -> Material:
    return patterned_material(
        rng, shared_colour(rng), (0.015 * image_size, 0.2 * image_size), BACKGROUND_PATTERN_WEIGHTS
    )


def plain(
    rng: np.random.Generator, colour: np.ndarray, grain: tuple[float, float] = (0.02, 0.07)
) -> Material:
    """A nearly uniform material (skin, eyes) with faint coarse shading."""
    return Material(
        pattern=Pattern.SOLID,
        colours=np.stack([colour, colour, colour]),
        grain=float(rng.uniform(*grain)),
        blotch=float(rng.uniform(0.0, 0.05)),
    )


def hair(rng: np.random.Generator, colour: np.ndarray, unit_px: float) -> Material:
    """Fine strands: thin stripes of two close shades, roughly along the head."""
    dark = np.clip(colour * rng.uniform(0.55, 0.85), 0, 255).astype(np.float32)
    return Material(
        pattern=Pattern.STRIPES,
        colours=np.stack([colour, dark, colour]),
        angle=float(rng.normal(0, 0.25)),
        period=float(max(2.0, rng.uniform(0.03, 0.08) * unit_px)),
        duty=float(rng.uniform(0.35, 0.65)),
        grain=float(rng.uniform(0.05, 0.2)),
        blotch=float(rng.uniform(0.0, 0.08)),
    )
