"""Polygon outlines of body parts in a person's own frame, and their rasterisation.

Shapes are built as float (N, 2) outlines (x, y) and drawn with OpenCV at 1/16 pixel
precision. Each outline is filled with its own call: OpenCV fills several outlines
passed together with the even-odd rule, which would punch holes where they overlap.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

# OpenCV's fixed-point drawing: coordinates carry this many fractional bits.
_SHIFT = 4
_SCALE = float(1 << _SHIFT)

_ARC_POINTS = 7
# A half circle from -90 to +90 degrees about +x, rotated onto a segment's axis when used.
_ARC_COS = np.cos(np.linspace(-math.pi / 2, math.pi / 2, _ARC_POINTS))
_ARC_SIN = np.sin(np.linspace(-math.pi / 2, math.pi / 2, _ARC_POINTS))
_ELLIPSE_T: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def unit(v: np.ndarray) -> np.ndarray:
    n = math.hypot(v[0], v[1])
    return v / n if n > 1e-9 else np.array([0.0, 1.0])


def _circle(points: int) -> tuple[np.ndarray, np.ndarray]:
    if points not in _ELLIPSE_T:
        t = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
        _ELLIPSE_T[points] = (np.cos(t), np.sin(t))
    return _ELLIPSE_T[points]


def ellipse(
    centre: np.ndarray, half_width: float, half_height: float, up: np.ndarray, points: int = 28
) -> np.ndarray:
    """An ellipse whose ``half_height`` axis lies along ``up``."""
    cos, sin = _circle(points)
    a, b = half_width * cos, half_height * sin
    out = np.empty((points, 2))
    # across = (-up_y, up_x)
    out[:, 0] = centre[0] - a * up[1] + b * up[0]
    out[:, 1] = centre[1] + a * up[0] + b * up[1]
    return out


def ellipse_cap(
    centre: np.ndarray, half_width: float, half_height: float, up: np.ndarray, level: float, points: int = 20
) -> np.ndarray:
    """The part of an ellipse above ``level`` (a fraction of ``half_height`` along ``up``)."""
    level = min(max(level, -0.999), 0.999)
    start = math.asin(level)
    t = np.linspace(start, math.pi - start, points)
    a, b = half_width * np.cos(t), half_height * np.sin(t)
    out = np.empty((points, 2))
    out[:, 0] = centre[0] - a * up[1] + b * up[0]
    out[:, 1] = centre[1] + a * up[0] + b * up[1]
    return out


def _arc(centre: np.ndarray, radius: float, ax: float, ay: float) -> np.ndarray:
    """Half circle around ``centre`` bulging along the unit direction (ax, ay)."""
    out = np.empty((_ARC_POINTS, 2))
    out[:, 0] = centre[0] + radius * (_ARC_COS * ax - _ARC_SIN * ay)
    out[:, 1] = centre[1] + radius * (_ARC_COS * ay + _ARC_SIN * ax)
    return out


def segment(
    start: np.ndarray,
    end: np.ndarray,
    r_start: float,
    r_end: float,
    round_start: bool = True,
    round_end: bool = True,
) -> np.ndarray:
    """A tapered limb segment: rounded (a half disc) or cut square at either end."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    n = math.hypot(dx, dy)
    ax, ay = (dx / n, dy / n) if n > 1e-9 else (0.0, 1.0)
    sx, sy = -ay, ax  # the side direction
    if round_end:
        end_pts = _arc(end, r_end, ax, ay)
    else:
        end_pts = np.array(
            [[end[0] - r_end * sx, end[1] - r_end * sy], [end[0] + r_end * sx, end[1] + r_end * sy]]
        )
    if round_start:
        start_pts = _arc(start, r_start, -ax, -ay)
    else:
        start_pts = np.array(
            [
                [start[0] + r_start * sx, start[1] + r_start * sy],
                [start[0] - r_start * sx, start[1] - r_start * sy],
            ]
        )
    return np.concatenate([end_pts, start_pts])


def segment_lengths(points: Sequence[np.ndarray]) -> list[float]:
    """Lengths of the segments between successive points."""
    return [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(points[:-1], points[1:])]


def chain(
    points: Sequence[np.ndarray],
    radii: Sequence[float],
    start: float = 0.0,
    end: float = 1.0,
    round_start: bool = True,
    round_end: bool = True,
    end_flare: float = 1.0,
) -> list[np.ndarray]:
    """Segments covering the stretch [start, end] (fractions of arc length) of a limb chain.

    Interior joints are rounded so bends stay closed; ``end_flare`` widens the last
    point (a trouser or sleeve hem).
    """
    pts = [np.asarray(p, dtype=np.float64) for p in points]
    lengths = segment_lengths(pts)
    total = sum(lengths)
    if total <= 1e-9 or end <= start:
        return []
    lo, hi = start * total, min(end, 1.0) * total
    out: list[np.ndarray] = []
    acc = 0.0
    for i, seg_len in enumerate(lengths):
        a, b = acc, acc + seg_len
        acc = b
        s, e = max(lo, a), min(hi, b)
        if e - s <= 1e-6 or seg_len <= 1e-9:
            continue
        fs, fe = (s - a) / seg_len, (e - a) / seg_len
        p = pts[i] + fs * (pts[i + 1] - pts[i])
        q = pts[i] + fe * (pts[i + 1] - pts[i])
        rp = radii[i] + fs * (radii[i + 1] - radii[i])
        rq = radii[i] + fe * (radii[i + 1] - radii[i])
        is_last = e >= hi - 1e-6
        if is_last:
            rq *= end_flare
        out.append(
            segment(
                p, q, rp, rq, round_start=round_start or s > lo + 1e-6, round_end=round_end or not is_last
            )
        )
    return out


def chain_point(points: Sequence[np.ndarray], fraction: float) -> np.ndarray:
    """The point at ``fraction`` of a chain's arc length."""
    pts = [np.asarray(p, dtype=np.float64) for p in points]
    lengths = segment_lengths(pts)
    target = min(max(fraction, 0.0), 1.0) * sum(lengths)
    for i, seg_len in enumerate(lengths):
        if target <= seg_len or i == len(lengths) - 1:
            f = target / seg_len if seg_len > 1e-9 else 0.0
            return pts[i] + min(f, 1.0) * (pts[i + 1] - pts[i])
        target -= seg_len
    return pts[-1]


def fill(canvas: np.ndarray, polygons: Sequence[np.ndarray], value: int) -> None:
    """Fill screen-space outlines (float pixel coordinates) with ``value``."""
    for poly in polygons:
        pts = np.round(poly * _SCALE).astype(np.int32)
        cv2.fillPoly(canvas, [pts], int(value), lineType=cv2.LINE_8, shift=_SHIFT)
