"""Pose-guided morphing and the part-level prior (WSHP §3.4), batched.

Each labelled exemplar's pixels are assigned to a *bone* (head, torso, upper and lower arms and
legs: :data:`BONES`), the nearest bone segment to the pixel, so that any label set works (CCP's
garments as well as body parts; a blouse pixel goes with the torso or an arm, a shoe with its
lower leg). For a target pose, every bone's region of every neighbour is carried by the
similarity transform (scale, rotation, translation: two points fix no more) that takes the
neighbour's bone onto the target's, by inverse mapping: each target pixel samples the neighbour
at the transformed point, nearest neighbour on class ids, and counts where the sampled pixel
belongs to that bone. A class is present at a target pixel for a neighbour where any bone brings
it there; the prior is the mean over the k neighbours, per class: (C, h, w) in [0, 1], equal to
the one morphed mask when k = 1. A bone missing from the target or the neighbour brings nothing.

All warps of a batch (queries × neighbours × candidate bones) are one ``grid_sample`` call, on
the CPU or a GPU; :func:`morph_loop` is the same computation one whole-image warp at a time,
the reference the tests compare against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..schemas import JointSchema
from .pose import torso

NO_BONE = 255
# name -> (start joint, end joint); "neck" and "hip_centre" are the torso's reference points.
BONES: tuple[tuple[str, str, str], ...] = (
    ("head", "upper_neck", "head_top"),
    ("torso", "neck", "hip_centre"),
    ("l_upper_arm", "l_shoulder", "l_elbow"), ("l_lower_arm", "l_elbow", "l_wrist"),
    ("r_upper_arm", "r_shoulder", "r_elbow"), ("r_lower_arm", "r_elbow", "r_wrist"),
    ("l_upper_leg", "l_hip", "l_knee"), ("l_lower_leg", "l_knee", "l_ankle"),
    ("r_upper_leg", "r_hip", "r_knee"), ("r_lower_leg", "r_knee", "r_ankle"),
)


def bone_ends(keypoints: np.ndarray, schema: JointSchema) -> np.ndarray:
    """(N, B, 2, 2) the start and end point of every bone of :data:`BONES` per pose, NaN where a
    bone's joint is missing."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    neck, hip, ok = torso(keypoints, schema)
    present = (keypoints[..., 2] > 0) & np.isfinite(keypoints[..., :2]).all(-1)
    points = np.where(present[..., None], keypoints[..., :2], np.nan)
    named = {"neck": np.where(ok[:, None], neck, np.nan), "hip_centre": np.where(ok[:, None], hip, np.nan)}
    out = np.full((keypoints.shape[0], len(BONES), 2, 2), np.nan)
    for b, (_, start, end) in enumerate(BONES):
        for e, name in enumerate((start, end)):
            if name in named:
                out[:, b, e] = named[name]
            elif name in schema.joints:
                out[:, b, e] = points[:, schema.joints.index(name)]
    # A bone of zero length fixes no transform.
    degenerate = np.linalg.norm(out[:, :, 1] - out[:, :, 0], axis=-1) < 1e-6
    out[degenerate] = np.nan
    return out


def assign_bones(label: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(H, W) uint8 bone of each labelled pixel of one exemplar, the nearest bone segment
    (:data:`NO_BONE` for background, 255 pixels and exemplars without bones)."""
    h, w = label.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pixels = np.stack([xs + 0.5, ys + 0.5], -1)  # pixel centres, in the keypoints' convention
    best = np.full((h, w), np.inf, dtype=np.float32)
    bone = np.full((h, w), NO_BONE, dtype=np.uint8)
    for b, (p0, p1) in enumerate(ends):
        if not np.isfinite(p0).all() or not np.isfinite(p1).all():
            continue
        d = (p1 - p0).astype(np.float32)
        t = np.clip(((pixels - p0) @ d) / float(d @ d), 0.0, 1.0)
        dist = np.linalg.norm(pixels - (p0 + t[..., None] * d), axis=-1)
        closer = dist < best
        best[closer], bone[closer] = dist[closer], b
    bone[(label == 0) | (label == 255)] = NO_BONE
    return bone


def similarity_from(source: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., 2, 3) the similarity transforms x -> A x + b that take the segments ``source``
    (..., 2, 2: start, end) exactly onto ``target``; NaN where either is missing."""
    s = torch.as_tensor(source, dtype=torch.float64)
    t = torch.as_tensor(target, dtype=torch.float64)
    ds, dt = s[..., 1, :] - s[..., 0, :], t[..., 1, :] - t[..., 0, :]
    # As complex numbers: a = dt / ds, the rotation and scale; b = t0 - a s0.
    a = torch.complex(dt[..., 0], dt[..., 1]) / torch.complex(ds[..., 0], ds[..., 1])
    matrix = torch.stack([torch.stack([a.real, -a.imag], -1), torch.stack([a.imag, a.real], -1)], -2)
    b = t[..., 0, :] - (matrix @ s[..., 0, :, None])[..., 0]
    return torch.cat([matrix, b[..., None]], -1)


@dataclass
class ExemplarBank:
    """The labelled exemplars, ready to morph: (E, H, W) uint8 class ids and bones on one canvas
    (each exemplar in its top-left corner; the rest background), (E, B, 2, 2) bone ends and each
    exemplar's (height, width)."""

    labels: torch.Tensor
    bones: torch.Tensor
    ends: np.ndarray
    sizes: list[tuple[int, int]]
    num_classes: int

    def points(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every exemplar's labelled pixels as points, exemplar after exemplar: (P, 2) float32
        pixel centres (x, y), (P,) class, (P,) bone, and (E + 1,) offsets (exemplar e's points
        are offsets[e]:offsets[e + 1]). Made once, kept."""
        if getattr(self, "_points", None) is None:
            keep = self.bones != NO_BONE  # labelled pixels with a bone
            e, y, x = keep.nonzero(as_tuple=True)
            xy = torch.stack([x, y], 1).float() + 0.5
            counts = torch.bincount(e, minlength=self.labels.shape[0])
            offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
            self._points = (xy, self.labels[keep].long(), self.bones[keep].long(), offsets)
        return self._points

    @classmethod
    def build(cls, labels: Sequence[np.ndarray], keypoints: np.ndarray, schema: JointSchema, num_classes: int) -> ExemplarBank:
        """From each exemplar's (H, W) label and its (K, 3) joints (``keypoints``: (E, K, 3))."""
        ends = bone_ends(keypoints, schema)
        height, width = max(lb.shape[0] for lb in labels), max(lb.shape[1] for lb in labels)
        canvas = torch.zeros(len(labels), height, width, dtype=torch.uint8)
        bones = torch.full((len(labels), height, width), NO_BONE, dtype=torch.uint8)
        for i, label in enumerate(labels):
            h, w = label.shape
            canvas[i, :h, :w] = torch.from_numpy(np.array(label, dtype=np.uint8))
            bones[i, :h, :w] = torch.from_numpy(assign_bones(label, ends[i]))
        return cls(canvas, bones, ends, [lb.shape for lb in labels], num_classes)


def inverse_transforms(transforms: torch.Tensor) -> torch.Tensor:
    """(..., 2, 3) the inverses of similarity (or any invertible affine) transforms."""
    matrix, b = transforms[..., :2], transforms[..., 2:]
    inverse = torch.linalg.inv(matrix)
    return torch.cat([inverse, -inverse @ b], -1)


def _to_grid(points: torch.Tensor, source_size: tuple[int, int]) -> torch.Tensor:
    """Source pixel coordinates (x, y; pixel centres at +0.5) as grid_sample's [-1, 1] coordinates."""
    sh, sw = source_size
    return torch.stack([points[..., 0] / sw * 2 - 1, points[..., 1] / sh * 2 - 1], -1).float()


def _pixel_centres(size: tuple[int, int]) -> torch.Tensor:
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5,
                            indexing="ij")
    return torch.stack([xs, ys], -1).reshape(-1, 2)  # (hw, 2)


def _segment_distances(points: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """(..., B, P) distance of every point (P, 2) to every bone segment (..., B, 2, 2); inf for a
    missing bone."""
    p0, d = ends[..., 0, :], ends[..., 1, :] - ends[..., 0, :]  # (..., B, 2)
    rel = points[None] - p0[..., None, :]  # (..., B, P, 2)
    t = ((rel * d[..., None, :]).sum(-1) / (d * d).sum(-1)[..., None]).clamp(0, 1)
    dist = (rel - t[..., None] * d[..., None, :]).norm(dim=-1)
    return torch.nan_to_num(dist, nan=float("inf"))


def morph_priors(
    bank: ExemplarBank, neighbours: torch.Tensor, target_ends: np.ndarray, size: tuple[int, int],
    candidates: int = 3, chunk: int = 16,
) -> torch.Tensor:
    """(Q, C, h, w) float32 priors for Q targets of (h, w) pixels (the coordinates of
    ``target_ends``, (Q, B, 2, 2)), each the mean over its (Q, k) ``neighbours`` of their labels
    morphed bone by bone: channel c is the fraction of neighbours that bring class c to the
    pixel; background (channel 0) is where none brings any.

    A bone's region, carried by its transform, lies along the target's bone; so each target
    pixel asks only its ``candidates`` nearest target bones (all of :data:`BONES`: exactly the
    per-bone warps of :func:`morph_loop`; 3 by default, which differs from it only where a
    region lands beyond its bone's three nearest neighbours). One batched ``grid_sample`` for
    every ``chunk`` targets with all their neighbours and candidate bones."""
    return torch.cat([
        _morph_chunk(bank, neighbours[i : i + chunk], np.asarray(target_ends)[i : i + chunk], size, candidates)
        for i in range(0, neighbours.shape[0], chunk)
    ])


def _morph_chunk(
    bank: ExemplarBank, neighbours: torch.Tensor, target_ends: np.ndarray, size: tuple[int, int], candidates: int,
) -> torch.Tensor:
    q, k = neighbours.shape
    num_bones, (h, w) = len(BONES), size
    c = min(max(1, candidates), num_bones)
    source = bank.ends[neighbours.numpy()]  # (Q, k, B, 2, 2)
    target = torch.as_tensor(np.ascontiguousarray(target_ends), dtype=torch.float64)  # (Q, B, 2, 2)
    transforms = similarity_from(source, target[:, None].expand(-1, k, -1, -1, -1))  # (Q, k, B, 2, 3)
    valid = torch.isfinite(transforms).all(-1).all(-1)  # (Q, k, B): the bone in both poses
    inverse = inverse_transforms(torch.where(valid[..., None, None], transforms, torch.eye(2, 3, dtype=torch.float64)))
    pixels = _pixel_centres(size).float()  # (hw, 2)
    # Each pixel's nearest target bones among those this neighbour has too.
    distance = _segment_distances(pixels, target.float())[:, None]  # (Q, 1, B, hw)
    distance = torch.where(valid[..., None], distance, torch.tensor(float("inf")))  # (Q, k, B, hw)
    near_dist, near = distance.topk(c, dim=2, largest=False)  # (Q, k, c, hw)
    usable = torch.isfinite(near_dist)
    # The candidates' inverse transforms, per pixel, applied as six multiply-adds.
    coefficients = inverse.float().flatten(-2)  # (Q, k, B, 6)
    chosen = coefficients.gather(2, near.reshape(q, k, -1, 1).expand(-1, -1, -1, 6)).view(q, k, c, h * w, 6)
    x, y = pixels[:, 0], pixels[:, 1]
    back = torch.stack([chosen[..., 0] * x + chosen[..., 1] * y + chosen[..., 2],
                        chosen[..., 3] * x + chosen[..., 4] * y + chosen[..., 5]], -1)  # (Q, k, c, hw, 2)
    grid = _to_grid(back, tuple(bank.labels.shape[-2:])).view(q * k, c * h, w, 2)
    index = neighbours.reshape(-1)
    maps = torch.stack([bank.labels[index], bank.bones[index]], 1).float()  # (Q k, 2, H, W)
    sampled = F.grid_sample(maps, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    label = sampled[:, 0].long().view(q, k, c, h * w)
    bone = sampled[:, 1].long().view(q, k, c, h * w)
    # A candidate brings its class where the sampled pixel belongs to that bone (outside the
    # canvas grid_sample gives 0, background, which brings nothing).
    hit = usable & (bone == near) & (label > 0)
    # A class counts once per neighbour and pixel, whichever candidate bones bring it: sorted
    # over the candidates, a class equal to the one before it is a repeat.
    label, _ = torch.where(hit, label, 0).sort(dim=2)
    first = torch.ones_like(label, dtype=torch.bool)
    first[:, :, 1:] = label[:, :, 1:] != label[:, :, :-1]
    counts = torch.zeros(q, bank.num_classes, h * w)
    counts.scatter_add_(1, label.reshape(q, k * c, h * w), (first & (label > 0)).reshape(q, k * c, h * w).float())
    prior = (counts / k).view(q, bank.num_classes, h, w)
    prior[:, 0] = 1 - prior[:, 1:].amax(dim=1)
    return prior


# Each source pixel is splatted as SPLAT x SPLAT sub-pixel points, so that a bone enlarged up to
# SPLAT times leaves no holes between the points it carries.
SPLAT = 2


def splat_priors(
    bank: ExemplarBank, neighbours: torch.Tensor, target_ends: np.ndarray, size: tuple[int, int], chunk: int = 16,
) -> torch.Tensor:
    """:func:`morph_priors` by forward mapping: every labelled pixel of every neighbour is carried
    by its own bone's similarity transform straight onto the target grid (as SPLAT x SPLAT
    sub-pixel points, rounded to the pixel they land in), and a class counts once per neighbour
    and pixel. The work is the neighbours' labelled pixels, not every target pixel times every
    bone: much faster than inverse mapping, and the same prior up to where a point rounds
    across a pixel edge. One batched transform and one scatter per ``chunk`` targets."""
    return torch.cat([
        _splat_chunk(bank, neighbours[i : i + chunk], np.asarray(target_ends)[i : i + chunk], size)
        for i in range(0, neighbours.shape[0], chunk)
    ])


def _splat_chunk(bank: ExemplarBank, neighbours: torch.Tensor, target_ends: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    q, k = neighbours.shape
    h, w = size
    xy, classes, bones, offsets = bank.points()
    source = bank.ends[neighbours.numpy()]  # (Q, k, B, 2, 2)
    target = torch.as_tensor(np.ascontiguousarray(target_ends), dtype=torch.float64)
    transforms = similarity_from(source, target[:, None].expand(-1, k, -1, -1, -1)).float().reshape(q * k, -1, 2, 3)
    # The points of every (target, neighbour) pair, one after the other.
    exemplar = neighbours.reshape(-1)
    counts = offsets[exemplar + 1] - offsets[exemplar]
    pair = torch.repeat_interleave(torch.arange(q * k), counts)
    start = torch.repeat_interleave(offsets[exemplar] - torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)[:-1]]), counts)
    point = torch.arange(int(counts.sum())) + start
    t = transforms[pair, bones[point]]  # (P, 2, 3)
    sub = (torch.arange(SPLAT, dtype=torch.float32) + 0.5) / SPLAT - 0.5
    offsets_2d = torch.stack(torch.meshgrid(sub, sub, indexing="xy"), -1).reshape(-1, 2)  # (S, 2)
    at = xy[point][:, None] + offsets_2d[None]  # (P, S, 2)
    moved = torch.einsum("pij,psj->psi", t[..., :2], at) + t[:, None, :, 2]
    col, row = moved[..., 0].floor().long(), moved[..., 1].floor().long()
    inside = torch.isfinite(moved).all(-1) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    cls = classes[point][:, None].expand_as(col)
    pairs = pair[:, None].expand_as(col)
    key = ((pairs * bank.num_classes + cls) * h + row) * w + col
    key = torch.unique(key[inside])  # a class once per neighbour and pixel
    pixel, rest = key % (h * w), key // (h * w)
    cls, pairs = rest % bank.num_classes, rest // bank.num_classes
    prior = torch.zeros(q * bank.num_classes * h * w)
    prior.index_add_(0, ((pairs // k) * bank.num_classes + cls) * (h * w) + pixel, torch.full_like(pixel, 1.0 / k, dtype=torch.float32))
    prior = prior.view(q, bank.num_classes, h, w)
    prior[:, 0] = 1 - prior[:, 1:].amax(dim=1)
    return prior


def _inverse_grid(transform: torch.Tensor, size: tuple[int, int], source_size: tuple[int, int]) -> torch.Tensor:
    """(1, h, w, 2) the grid that brings every target pixel back through one (2, 3) transform."""
    inverse = inverse_transforms(transform)
    back = _pixel_centres(size) @ inverse[:, :2].T + inverse[:, 2]
    return _to_grid(back, source_size).view(1, *size, 2)


def morph_loop(
    bank: ExemplarBank, neighbours: torch.Tensor, target_ends: np.ndarray, size: tuple[int, int],
) -> torch.Tensor:
    """:func:`morph_priors` the straightforward way: one warp of the whole neighbour per target,
    neighbour and bone, each kept where the sampled pixel belongs to that bone (the reference)."""
    q, k = neighbours.shape
    out = torch.zeros(q, bank.num_classes, *size)
    for t in range(q):
        for j in range(k):
            e = int(neighbours[t, j])
            present = torch.zeros(bank.num_classes, *size, dtype=torch.bool)
            for b in range(len(BONES)):
                transform = similarity_from(bank.ends[e, b], target_ends[t, b])
                if not torch.isfinite(transform).all():
                    continue
                grid = _inverse_grid(transform, size, tuple(bank.labels.shape[-2:]))
                maps = torch.stack([bank.labels[e], bank.bones[e]])[None].float()
                label, bone = F.grid_sample(maps, grid, mode="nearest", align_corners=False)[0].long()
                hit = (bone == b) & (label > 0)
                rows, cols = hit.nonzero(as_tuple=True)
                present[label[hit], rows, cols] = True
            out[t] += present / k
    out[:, 0] = 1 - out[:, 1:].amax(dim=1)
    return out


__all__ = ["BONES", "NO_BONE", "SPLAT", "ExemplarBank", "splat_priors", "assign_bones", "bone_ends", "inverse_transforms", "morph_loop", "morph_priors",
           "similarity_from"]
