"""Pose normalisation and the retrieval of pose-similar exemplars (WSHP §3.3).

Poses are (N, K, 3) keypoints (x, y, visibility) in a joint schema with LIP's / MPII's 16 joint
names (map other schemas onto it first, e.g. ``COCO_JOINTS.mapping_to(LIP_JOINTS)``). A pose is
normalised by one uniform scale that brings its torso (neck to hip centre) to
:data:`TORSO_LENGTH`, and one translation that puts the hip centre at the origin; its rotation is
kept, so a person bending sideways stays unlike one standing (the paper's reading; the original
code rescaled every bone instead). The neck is the upper neck, else the thorax, else the middle
of the shoulders; the hip centre the middle of the hips, else the pelvis. A pose without either
cannot be normalised and matches nothing.

Distance: Euclidean over the joints both poses have, scaled by sqrt(K / common) so that poses
with fewer joints in common are not favoured; no joint in common is an infinite distance.
Retrieval is one batched distance computation for all queries against all exemplars, a query
never retrieving itself (``exclude``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.sample import MISSING
from ..schemas import JointSchema

TORSO_LENGTH = 1.0
NECK = ("upper_neck", "thorax")
HIP_CENTRE = ("pelvis",)
SHOULDERS, HIPS = ("l_shoulder", "r_shoulder"), ("l_hip", "r_hip")


def _joint(schema: JointSchema, name: str) -> int | None:
    return schema.joints.index(name) if name in schema.joints else None


def _present(keypoints: np.ndarray) -> np.ndarray:
    return (keypoints[..., 2] != MISSING) & np.isfinite(keypoints[..., :2]).all(-1)


def _point(points: np.ndarray, present: np.ndarray, schema: JointSchema, single: Sequence[str],
           pair: Sequence[str], pair_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) a reference point per pose, from the first joint of ``single`` it has or the middle
    of ``pair`` (tried first where ``pair_first``), and (N,) whether it was found."""
    out = np.full((points.shape[0], 2), np.nan)
    found = np.zeros(points.shape[0], dtype=bool)

    def middle() -> tuple[np.ndarray, np.ndarray]:
        a, b = (_joint(schema, n) for n in pair)
        if a is None or b is None:
            return out, np.zeros_like(found)
        return (points[:, a] + points[:, b]) / 2, present[:, a] & present[:, b]

    def singles() -> list[tuple[np.ndarray, np.ndarray]]:
        return [(points[:, j], present[:, j]) for j in (_joint(schema, n) for n in single) if j is not None]

    for candidate, ok in ([middle(), *singles()] if pair_first else [*singles(), middle()]):
        take = ok & ~found
        out[take] = candidate[take]
        found |= take
    return out, found


def torso(keypoints: np.ndarray, schema: JointSchema) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 2) necks, (N, 2) hip centres and (N,) whether a pose has both."""
    points, present = keypoints[..., :2].astype(np.float64), _present(keypoints)
    neck, has_neck = _point(points, present, schema, NECK, SHOULDERS, pair_first=False)
    hip, has_hip = _point(points, present, schema, HIP_CENTRE, HIPS, pair_first=True)
    length = np.linalg.norm(neck - hip, axis=-1)
    return neck, hip, has_neck & has_hip & (np.nan_to_num(length) > 0)


def normalize_poses(keypoints: np.ndarray, schema: JointSchema) -> np.ndarray:
    """(N, K, 2) float32 normalised joints, NaN where a joint is missing or the pose cannot be
    normalised (no torso): torso length :data:`TORSO_LENGTH`, hip centre at the origin."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (schema.num_joints, 3):
        raise ValueError(f"poses must be (N, {schema.num_joints}, 3) in joint schema {schema.name!r}, "
                         f"got {keypoints.shape}")
    neck, hip, ok = torso(keypoints, schema)
    scale = TORSO_LENGTH / np.where(ok, np.linalg.norm(neck - hip, axis=-1), np.nan)
    out = (keypoints[..., :2] - hip[:, None]) * scale[:, None, None]
    out[~(_present(keypoints) & ok[:, None])] = np.nan
    return out.astype(np.float32)


def pose_distances(queries: np.ndarray | torch.Tensor, exemplars: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(Q, E) distances between normalised poses (Q, K, 2) and (E, K, 2), in one batched
    computation: over the joints both have, scaled by sqrt(K / common); inf without one."""
    # float64: the expanded square below cancels, and its square root magnifies what is left.
    q = torch.as_tensor(queries, dtype=torch.float64)
    e = torch.as_tensor(exemplars, dtype=torch.float64)
    q_ok, e_ok = torch.isfinite(q).all(-1).double(), torch.isfinite(e).all(-1).double()  # (Q, K), (E, K)
    q0, e0 = torch.nan_to_num(q), torch.nan_to_num(e)
    common = q_ok @ e_ok.T  # (Q, E) joints in common
    # Σ over common joints of |q - e|² = Σ q²·e_ok + Σ e²·q_ok - 2 Σ q·e, each a matrix product.
    q2, e2 = (q0 ** 2).sum(-1), (e0 ** 2).sum(-1)  # (Q, K), (E, K)
    squared = q2 @ e_ok.T + q_ok @ e2.T - 2 * torch.einsum("qkd,ekd->qe", q0, e0)
    k = q.shape[1]
    distance = torch.sqrt(squared.clamp_min(0) * k / common.clamp_min(1))
    return torch.where(common > 0, distance, torch.full_like(distance, float("inf"))).float()


def nearest_exemplars(
    queries: np.ndarray, exemplars: np.ndarray, n: int, exclude: Sequence[int] | None = None,
) -> torch.Tensor:
    """(Q, n) indices of each query's n nearest exemplars, nearest first; ``exclude[q]`` (an
    exemplar index, or -1) is never returned for query q: a labelled person is not its own
    neighbour. Fewer than n reachable exemplars is an error."""
    distances = pose_distances(queries, exemplars)
    if exclude is not None:
        rows = torch.arange(distances.shape[0])
        index = torch.as_tensor(list(exclude), dtype=torch.long)
        keep = index >= 0
        distances[rows[keep], index[keep]] = float("inf")
    if n > distances.shape[1] - (1 if exclude is not None else 0):
        raise ValueError(f"{n} neighbours asked of {distances.shape[1]} exemplars")
    values, order = distances.topk(n, dim=1, largest=False)
    if not torch.isfinite(values).all():
        bad = int((~torch.isfinite(values)).any(1).nonzero()[0, 0])
        raise ValueError(f"query {bad} has fewer than {n} exemplars with joints in common (is its torso visible?)")
    return order


def choose_neighbours(pool: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(Q, k) a random k of each query's n pooled neighbours (the refinement network's training
    augmentation: k = 3 of n = 5)."""
    q, n = pool.shape
    if not 1 <= k <= n:
        raise ValueError(f"k must be 1 to the pool's {n}, not {k}")
    order = torch.rand(q, n, generator=generator).argsort(dim=1)[:, :k]
    return pool.gather(1, order)


__all__ = [
    "TORSO_LENGTH", "choose_neighbours", "nearest_exemplars", "normalize_poses", "pose_distances", "torso",
]
