"""Geometric augmentation parameters and the 2x3 matrix algebra.

Conventions: :mod:`humanparse.data.transforms`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Size = tuple[int, int]


@dataclass(frozen=True)
class AffineParams:
    """One sample's geometric augmentation.

    scale: zoom on top of fitting the image to the output (> 1 makes the person larger).
    rotation: degrees, counter-clockwise as seen on screen (cv2.getRotationMatrix2D's sense).
    translation: (dx, dy) shift of the image centre, as fractions of the output width / height.
    flip: mirror horizontally (left and right swap by the schemas).
    """

    scale: float = 1.0
    rotation: float = 0.0
    translation: tuple[float, float] = (0.0, 0.0)
    flip: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"AffineParams.scale must be a positive number, not {self.scale}")
        if not math.isfinite(self.rotation):
            raise ValueError(f"AffineParams.rotation must be finite, not {self.rotation}")
        if len(self.translation) != 2 or not all(math.isfinite(t) for t in self.translation):
            raise ValueError(f"AffineParams.translation must be two finite numbers, not {self.translation}")


@dataclass(frozen=True)
class RandomAffine:
    """Draws :class:`AffineParams` uniformly from ranges.

    scale: (low, high) zoom factors; rotation: the largest absolute angle in degrees;
    translation: the largest absolute shift as a fraction of the output size;
    flip_prob: probability of a horizontal flip.
    """

    scale: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    translation: float = 0.0
    flip_prob: float = 0.5

    def __post_init__(self) -> None:
        low, high = self.scale
        if not (0 < low <= high):
            raise ValueError(f"RandomAffine.scale must be (low, high) with 0 < low <= high, not {self.scale}")
        if self.rotation < 0 or self.translation < 0:
            raise ValueError("RandomAffine.rotation and .translation are magnitudes and must be >= 0")
        if not 0 <= self.flip_prob <= 1:
            raise ValueError(f"RandomAffine.flip_prob must lie in [0, 1], not {self.flip_prob}")

    def sample(self, rng: np.random.Generator) -> AffineParams:
        return AffineParams(
            scale=float(rng.uniform(*self.scale)),
            rotation=float(rng.uniform(-self.rotation, self.rotation)),
            translation=(
                float(rng.uniform(-self.translation, self.translation)),
                float(rng.uniform(-self.translation, self.translation)),
            ),
            flip=bool(rng.random() < self.flip_prob),
        )


def _check_size(size: Size, what: str) -> Size:
    if len(size) != 2 or not all(int(s) == s and s > 0 for s in size):
        raise ValueError(f"{what} must be (height, width) positive integers, not {size!r}")
    return int(size[0]), int(size[1])


def _check_matrix(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"an affine matrix must be a finite 2x3 array, got shape {m.shape}")
    if abs(np.linalg.det(m[:, :2])) < 1e-12:
        raise ValueError("the affine matrix is singular (it collapses the image)")
    return m


def affine_matrix(
    src_size: Size,
    out_size: Size,
    params: AffineParams = AffineParams(),
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """The 2x3 float64 matrix from source image pixels to network-input pixels.

    The box (x0, y0, x1, y1, outer pixel edges; default the whole image) is centred in the
    output and fitted inside it keeping its aspect ratio (a letterbox); then the image is
    mirrored, zoomed by ``params.scale`` and rotated about that centre, and shifted by
    ``params.translation``. With default params and equal sizes this is the identity;
    a flip alone maps x -> W - 1 - x.
    """
    src_h, src_w = _check_size(src_size, "src_size")
    out_h, out_w = _check_size(out_size, "out_size")
    x0, y0, x1, y1 = box if box is not None else (-0.5, -0.5, src_w - 0.5, src_h - 0.5)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {box!r} must have x1 > x0 and y1 > y0")
    zoom = min(out_w / (x1 - x0), out_h / (y1 - y0)) * params.scale
    angle = math.radians(params.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    # y points down, so this is a counter-clockwise rotation on screen.
    rotate = np.array([[cos, sin], [-sin, cos]])
    mirror = np.diag([-1.0 if params.flip else 1.0, 1.0])
    linear = zoom * rotate @ mirror
    src_centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    out_centre = np.array(
        [(out_w - 1) / 2 + params.translation[0] * out_w, (out_h - 1) / 2 + params.translation[1] * out_h]
    )
    return np.hstack([linear, (out_centre - linear @ src_centre)[:, None]])


def _to3x3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def compose_affine(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 matrix that applies ``first`` and then ``second``."""
    return (_to3x3(_check_matrix(second)) @ _to3x3(_check_matrix(first)))[:2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The 2x3 matrix that undoes ``matrix``."""
    return np.linalg.inv(_to3x3(_check_matrix(matrix)))[:2]


def is_mirroring(matrix: np.ndarray) -> bool:
    """Whether the matrix mirrors the image (left and right swap)."""
    return bool(np.linalg.det(_check_matrix(matrix)[:, :2]) < 0)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (..., 2) points (x, y); NaN stays NaN. Returns float64."""
    m = _check_matrix(matrix)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got {pts.shape}")
    return pts @ m[:, :2].T + m[:, 2]
