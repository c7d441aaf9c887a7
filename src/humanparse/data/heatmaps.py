"""Joint heatmaps: Gaussian targets at a network's output stride, and decoding back to points.

Coordinates follow :mod:`humanparse.data.transforms`: x = column, y = row, pixel centres at
integer coordinates. A map at stride ``s`` has ``ceil(H / s)`` x ``ceil(W / s)`` cells and
cell ``j`` is centred on input pixel ``s * j + (s - 1) / 2`` (where bilinear upsampling with
``align_corners=False`` puts it), so

    grid = (pixel - (s - 1) / 2) / s        pixel = s * grid + (s - 1) / 2.

Everything here is torch, batched, and free of host synchronisation, so targets can be
rendered on the GPU inside the training step.
"""

from __future__ import annotations

import math

import torch

from .._checks import positive_int
from .sample import MISSING, OCCLUDED


def pixel_to_grid(points: torch.Tensor, stride: int) -> torch.Tensor:
    """Input-pixel coordinates -> heatmap-grid coordinates at ``stride`` (any shape)."""
    return (points - (stride - 1) / 2.0) / stride


def grid_to_pixel(points: torch.Tensor, stride: int) -> torch.Tensor:
    """Heatmap-grid coordinates at ``stride`` -> input-pixel coordinates (any shape)."""
    return points * stride + (stride - 1) / 2.0


def heatmap_size(input_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(h, w) of the map a stride-``stride`` network gives for an (H, W) input."""
    return (-(-int(input_size[0]) // stride), -(-int(input_size[1]) // stride))


def render_gaussians(
    centres: torch.Tensor, present: torch.Tensor, size: tuple[int, int], sigma: float
) -> torch.Tensor:
    """(B, K, h, w) maps with an unnormalised Gaussian (peak 1) at each present centre.

    centres: (B, K, 2) float (x, y) in grid coordinates; present: (B, K) bool, False gives
    an all-zero map (NaN centres are fine there); sigma in grid cells.
    """
    if centres.ndim != 3 or centres.shape[-1] != 2:
        raise ValueError(f"centres must be (B, K, 2), got {tuple(centres.shape)}")
    if present.shape != centres.shape[:2]:
        raise ValueError(f"present must be (B, K) = {tuple(centres.shape[:2])}, got {tuple(present.shape)}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, not {sigma!r}")
    h, w = int(size[0]), int(size[1])
    dtype = centres.dtype if centres.is_floating_point() else torch.float32
    safe = torch.where(present[..., None], centres.to(dtype), torch.zeros((), dtype=dtype, device=centres.device))
    xs = torch.arange(w, dtype=dtype, device=centres.device)
    ys = torch.arange(h, dtype=dtype, device=centres.device)
    gx = torch.exp(-((xs - safe[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((ys - safe[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, K, h)
    maps = gy[..., :, None] * gx[..., None, :]
    return maps * present[..., None, None].to(dtype)


def keypoint_targets(
    keypoints: torch.Tensor,
    size: tuple[int, int],
    stride: int,
    sigma: float,
    occluded_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmap targets and per-joint loss weights for single-person keypoints.

    keypoints: (B, K, 3) or (B, 1, K, 3) (x, y, visibility) in input pixels, the flags of
    :mod:`humanparse.data.sample`; size: (h, w) of the heatmaps; stride: the network's
    output stride; sigma: the Gaussian's standard deviation in input pixels (the paper's
    8 px at stride 8 is one cell).

    Returns targets (B, K, h, w) and weights (B, K): 0 for MISSING joints (never
    supervised), ``occluded_weight`` for OCCLUDED ones, 1 for VISIBLE ones.
    """
    if keypoints.ndim == 4:
        if keypoints.shape[1] != 1:
            raise ValueError(f"heatmap targets are single-person; got {keypoints.shape[1]} people per image")
        keypoints = keypoints[:, 0]
    if keypoints.ndim != 3 or keypoints.shape[-1] != 3:
        raise ValueError(f"keypoints must be (B, K, 3), got {tuple(keypoints.shape)}")
    keypoints = keypoints.float()
    flags = keypoints[..., 2]
    present = (flags != MISSING) & torch.isfinite(keypoints[..., :2]).all(dim=-1)
    targets = render_gaussians(pixel_to_grid(keypoints[..., :2], stride), present, size, sigma / stride)
    weights = torch.where(flags == OCCLUDED, float(occluded_weight), 1.0) * present
    return targets, weights


def _bilinear_at(maps: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Values of (B, K, h, w) ``maps`` at (B, K) fractional cell positions, 0 outside the map."""
    b, k, h, w = maps.shape
    flat = maps.reshape(b, k, h * w)
    x0, y0 = xs.floor(), ys.floor()
    out = torch.zeros_like(xs)
    for dx in (0, 1):
        for dy in (0, 1):
            cx, cy = x0 + dx, y0 + dy
            weight = (1 - (xs - cx).abs()) * (1 - (ys - cy).abs())
            inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
            index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).long()
            out = out + torch.where(inside, weight * flat.gather(-1, index[..., None])[..., 0], torch.zeros_like(xs))
    return out


def decode_heatmaps(heatmaps: torch.Tensor, stride: int = 1, spacing: float | torch.Tensor = 1.0) -> torch.Tensor:
    """(B, K, 3) joints (x, y, score) in input pixels from (B, K, h, w) heatmaps.

    The peak is the argmax cell, refined to sub-cell accuracy along each axis by the vertex
    of the parabola through the logarithms of the map at the peak and at ``spacing`` cells
    either side of it; that is exact for a sampled Gaussian. ``spacing`` is 1 for the network's
    own maps; for maps upsampled from a coarser grid (where the peak of an interpolated
    Gaussian sits on a coarse node) give the coarse grid's spacing in cells of this map (a
    number, or (B,) per map). The shift is clamped to half a spacing and left at 0 where a
    sample is missing or not positive. The score is the peak value.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (B, K, h, w), got {tuple(heatmaps.shape)}")
    b, k, h, w = heatmaps.shape
    maps = heatmaps.float()
    score, index = maps.reshape(b, k, h * w).max(dim=-1)
    ys, xs = (index // w).float(), (index % w).float()
    step = torch.as_tensor(spacing, dtype=torch.float32, device=maps.device)
    step = step.reshape(-1, 1).expand(b, k) if step.ndim else step.expand(b, k)

    def offset(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        ok = (before > 0) & (centre > 0) & (after > 0)
        lb, lc, la = (torch.log(torch.where(ok, v, torch.ones_like(v))) for v in (before, centre, after))
        curvature = lb - 2 * lc + la
        ok = ok & (curvature < 0)
        shift = 0.5 * (lb - la) / torch.where(ok, curvature, -torch.ones_like(curvature))
        return torch.where(ok, shift.clamp(-0.5, 0.5) * step, torch.zeros_like(shift))

    dx = offset(_bilinear_at(maps, xs - step, ys), score, _bilinear_at(maps, xs + step, ys))
    dy = offset(_bilinear_at(maps, xs, ys - step), score, _bilinear_at(maps, xs, ys + step))
    grid = torch.stack([xs + dx, ys + dy], dim=-1)
    return torch.cat([grid_to_pixel(grid, stride), score[..., None]], dim=-1)


def heatmap_peaks(
    heatmaps: torch.Tensor, radius: int = 1, threshold: float = 0.1, rows: tuple[int, int] | None = None,
    spacing: float | None = None,
) -> list[torch.Tensor]:
    """Each map's local maxima: (N_k, 3) (x, y, value) in cells for each of (K, h, w) maps,
    strongest first.

    A cell is a peak when it is the largest within ``radius`` cells (a (2r+1)-square window,
    non-maximum suppression by max-pooling) and its value is at least ``threshold``; of equal
    neighbours on a plateau only the first in row-major order is kept. ``rows`` = (first,
    stop) keeps only the peaks on those rows, for maps that carry ``radius`` rows of context
    above and below a band (pass the band's rows within the map). With ``spacing`` each peak
    is refined to sub-cell accuracy as in :func:`decode_heatmaps` (with that spacing), from
    its own window of the map; the radius should then be at least the spacing.
    """
    if heatmaps.ndim != 3:
        raise ValueError(f"heatmaps must be (K, h, w), got {tuple(heatmaps.shape)}")
    positive_int("radius", radius)
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number, not {threshold!r}")
    k, h, w = heatmaps.shape
    maps = heatmaps.float()
    pooled = torch.nn.functional.max_pool2d(maps[None], 2 * radius + 1, stride=1, padding=radius)[0]
    is_peak = (maps >= pooled) & (maps >= threshold)
    first, stop = (0, h) if rows is None else rows
    is_peak[:, :first] = False
    is_peak[:, stop:] = False
    out = []
    for j in range(k):
        ys, xs = torch.nonzero(is_peak[j], as_tuple=True)
        values = maps[j, ys, xs]
        order = torch.argsort(values, descending=True, stable=True)
        found = suppress_close(torch.stack([xs.float(), ys.float(), values], dim=-1)[order], float(radius))
        if spacing is not None:
            found = torch.stack([_refine_peak(maps[j], peak, radius, spacing) for peak in found]) if len(found) else found
        out.append(found)
    return out


def _refine_peak(heatmap: torch.Tensor, peak: torch.Tensor, radius: int, spacing: float) -> torch.Tensor:
    """(x, y, value) of a peak of an (h, w) map refined within the (2r+1)-square around it, where
    it is the maximum (and the first of a plateau in row-major order, as argmax picks)."""
    x, y = int(peak[0]), int(peak[1])
    x0, y0 = max(0, x - radius), max(0, y - radius)
    window = heatmap[y0 : y + radius + 1, x0 : x + radius + 1]
    refined = decode_heatmaps(window[None, None], stride=1, spacing=spacing)[0, 0]
    return refined + torch.tensor([float(x0), float(y0), 0.0], device=refined.device)


def suppress_close(candidates: torch.Tensor, distance: float, limit: int | None = None) -> torch.Tensor:
    """Greedy non-maximum suppression of (N, 3) (x, y, score) candidates sorted strongest first:
    each one is kept unless a kept one lies within ``distance`` (Chebyshev); at most ``limit``."""
    kept: list[int] = []
    points = candidates[:, :2]
    for i in range(candidates.shape[0]):
        if limit is not None and len(kept) >= limit:
            break
        if kept and bool(((points[kept] - points[i]).abs().amax(-1) <= distance).any()):
            continue
        kept.append(i)
    return candidates[kept]


__all__ = [
    "decode_heatmaps", "grid_to_pixel", "heatmap_peaks", "heatmap_size", "keypoint_targets", "pixel_to_grid",
    "render_gaussians", "suppress_close",
]
