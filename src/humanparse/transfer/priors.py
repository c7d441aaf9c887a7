"""Part-level priors for people from the labelled exemplars in similar poses (WSHP §3.3-3.4).

:class:`PriorMaker` keeps the exemplars' labels at a working resolution (their longer side
:data:`WORKING_SIDE`, the refinement network's input; aspect ratio kept) with their bones, and
their normalised poses. For people given by their joints it retrieves the n most similar
exemplars (never the person itself, where it is an exemplar), takes the k nearest (inference)
or a random k of the n (training: k = 3 of n = 5), and morphs them onto the person's bones at
the person's image shape, scaled to the working resolution.

A prior is (C, h, w) float32, the fraction of the k neighbours that bring each class to a pixel,
so k times it is a whole number: :func:`prior_counts` stores it as uint8 counts, losslessly.
"""

from __future__ import annotations

import warnings

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.sample import MapSpec, Sample
from ..schemas import JointSchema
from .morph import ExemplarBank, bone_ends, morph_priors, splat_priors
from .pose import choose_neighbours, nearest_exemplars, normalize_poses

WORKING_SIDE = 256
PRIOR = "prior"  # the map name the refinement network reads (models/wshp.py)


def working_shape(height: int, width: int, side: int = WORKING_SIDE) -> tuple[int, int]:
    """An image's shape with its longer side ``side`` (aspect ratio kept, at least one pixel)."""
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _scaled(keypoints: np.ndarray, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> np.ndarray:
    out = np.array(keypoints, dtype=np.float32, copy=True)
    out[..., 0] *= to_shape[1] / from_shape[1]
    out[..., 1] *= to_shape[0] / from_shape[0]
    return out


class PriorMaker:
    """Priors from ``labels`` (E (H, W) class ids) and ``keypoints`` ((E, K, 3), one person each,
    in ``joint_schema``) of the labelled exemplars."""

    def __init__(
        self, labels: Sequence[np.ndarray], keypoints: np.ndarray, joint_schema: JointSchema, num_classes: int,
        side: int = WORKING_SIDE, method: str = "splat",
    ) -> None:
        """``method``: "splat" (forward mapping of the neighbours' pixels, the fast default) or
        "inverse" (every target pixel sampled back through its candidate bones)."""
        if method not in ("splat", "inverse"):
            raise ValueError(f"method must be splat or inverse, not {method!r}")
        self.morph = splat_priors if method == "splat" else morph_priors
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if len(labels) != len(keypoints) or not len(labels):
            raise ValueError(f"{len(labels)} exemplar labels for {len(keypoints)} poses")
        self.joint_schema, self.num_classes, self.side = joint_schema, num_classes, side
        small, small_keypoints = [], []
        for label, kp in zip(labels, keypoints):
            shape = working_shape(*label.shape, side)
            small.append(np.asarray(Image.fromarray(np.asarray(label, dtype=np.uint8)).resize(shape[::-1], Image.NEAREST)))
            small_keypoints.append(_scaled(kp, label.shape, shape))
        self.bank = ExemplarBank.build(small, np.stack(small_keypoints), joint_schema, num_classes)
        self.poses = normalize_poses(keypoints, joint_schema)

    @classmethod
    def from_samples(cls, samples: Sequence[Sample], joint_schema: JointSchema, num_classes: int, **options) -> PriorMaker:
        """The exemplars of labelled samples with joints (each sample's first person)."""
        missing = [s.id for s in samples if s.keypoints is None or s.label is None]
        if missing:
            raise ValueError(f"exemplars without labels or joints: {', '.join(missing[:5])}")
        return cls([s.label for s in samples], np.stack([s.keypoints[0] for s in samples]), joint_schema, num_classes,
                   **options)

    def __len__(self) -> int:
        return len(self.poses)

    def retrievable(self, keypoints: np.ndarray) -> np.ndarray:
        """(Q,) bool: which of the (Q, K, 3) people have a pose to retrieve neighbours by (a torso
        and at least one joint shared with the exemplars)."""
        queries = np.isfinite(normalize_poses(np.asarray(keypoints, dtype=np.float32), self.joint_schema)).all(-1)
        return (queries.astype(np.int64) @ np.isfinite(self.poses).all(-1).T.astype(np.int64) > 0).any(1)

    def neighbours(self, keypoints: np.ndarray, n: int, exclude: Sequence[int] | None = None) -> torch.Tensor:
        """(Q, n) the n exemplars nearest in pose to each of the (Q, K, 3) people, nearest first;
        ``exclude[q]``: the exemplar that person q is (never its own neighbour), or -1."""
        return nearest_exemplars(normalize_poses(keypoints, self.joint_schema), self.poses, n, exclude)

    def priors(
        self, keypoints: np.ndarray, shapes: Sequence[tuple[int, int]], k: int = 3, n: int | None = None,
        exclude: Sequence[int] | None = None, generator: torch.Generator | None = None,
    ) -> list[np.ndarray]:
        """One (C, h, w) prior per person (keypoints (Q, K, 3) in the pixels of an image of
        ``shapes[q]``; the prior at that image's working shape): the mean of its k nearest
        exemplars morphed onto it, or with ``n`` of a random k of its n nearest."""
        keypoints = np.asarray(keypoints, dtype=np.float32)
        pool = self.neighbours(keypoints, n if n is not None else k, exclude)
        chosen = choose_neighbours(pool, k, generator) if n is not None else pool
        work = [working_shape(*shape, self.side) for shape in shapes]
        out: list[np.ndarray | None] = [None] * len(work)
        for shape in sorted(set(work)):  # one batched morph per working shape
            members = [q for q, s in enumerate(work) if s == shape]
            scaled = np.stack([_scaled(keypoints[q], shapes[q], shape) for q in members])
            morphed = self.morph(self.bank, chosen[members], bone_ends(scaled, self.joint_schema), shape)
            for q, prior in zip(members, morphed):
                out[q] = prior.numpy()
        return out  # type: ignore[return-value]


# The skeleton-map prior of the paper's Table 2 (sticks of width 7 between joints, as Xia et al.):
# one channel per bone kind, left and right merged, so that a mirrored image needs no swap.
SKELETON_CHANNELS = ("head", "torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg")
STICK_WIDTH = 7  # pixels at the working resolution


def skeleton_map(keypoints: np.ndarray, shape: tuple[int, int], joint_schema: JointSchema,
                 side: int = WORKING_SIDE) -> np.ndarray:
    """(6, H, W) float32 0/1 sticks along a person's bones over an image of ``shape``, one
    channel per bone kind (:data:`SKELETON_CHANNELS`), :data:`STICK_WIDTH` pixels wide at the
    working resolution (wider in proportion on a larger image)."""
    import cv2

    from .morph import BONES

    ends = bone_ends(np.asarray(keypoints, dtype=np.float32)[None], joint_schema)[0]
    width = max(1, round(STICK_WIDTH * max(shape) / side))
    out = np.zeros((len(SKELETON_CHANNELS), *shape), dtype=np.uint8)
    for (name, _, _), (p0, p1) in zip(BONES, ends):
        if np.isfinite(p0).all() and np.isfinite(p1).all():
            channel = SKELETON_CHANNELS.index(name.removeprefix("l_").removeprefix("r_"))
            canvas = np.ascontiguousarray(out[channel])
            cv2.line(canvas, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1), 1, width, cv2.LINE_8)
            out[channel] = canvas
    return out.astype(np.float32)


class AddPrior:
    """The step that gives a sample its ``prior`` map before augmentation (so that it warps and
    flips with the image): its person's prior from ``maker``, upsampled to the image's pixels.
    ``n`` given: a random k of the n nearest exemplars, drawn from the sample's rng (training);
    else the k nearest. ``exclude``: sample id -> its exemplar index, never its own neighbour."""

    def __init__(
        self, maker: PriorMaker | None, k: int = 3, n: int | None = None, exclude: dict[str, int] | None = None,
        skeleton: JointSchema | None = None,
    ) -> None:
        """``skeleton``: the skeleton-map prior (:func:`skeleton_map`) in that joint schema instead.
        A person whose pose retrieves no exemplar (no torso among its joints) gets an empty prior
        (all zeros: no neighbour contributed), with a warning naming the sample once."""
        self.maker, self.k, self.n, self.exclude, self.skeleton = maker, k, n, dict(exclude or {}), skeleton
        self.without_pose: set[str] = set()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if sample.keypoints is None or not len(sample.keypoints):
            raise ValueError(f"sample {sample.id!r} has no joints: a prior needs the person's pose (data.keypoints)")
        if self.skeleton is not None:
            maps = {**sample.maps, PRIOR: skeleton_map(sample.keypoints[0], sample.size, self.skeleton)}
            return replace(sample, maps=maps, map_specs={**sample.map_specs, PRIOR: MapSpec("continuous")})
        assert self.maker is not None
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        if self.maker.retrievable(sample.keypoints[:1])[0]:
            (prior,) = self.maker.priors(sample.keypoints[:1], [sample.size], self.k, self.n,
                                         exclude=[self.exclude.get(sample.id, -1)], generator=generator)
        else:
            if sample.id not in self.without_pose:
                self.without_pose.add(sample.id)
                warnings.warn(f"sample {sample.id!r}: its joints have no torso to retrieve exemplars by; "
                              "it gets an empty prior", stacklevel=2)
            prior = np.zeros((self.maker.num_classes, *working_shape(*sample.size, self.maker.side)), np.float32)
        full = F.interpolate(torch.from_numpy(prior)[None], size=sample.size, mode="bilinear", align_corners=False)[0]
        maps = {**sample.maps, PRIOR: full.numpy()}
        specs = {**sample.map_specs, PRIOR: MapSpec("continuous", class_indexed=True)}
        return replace(sample, maps=maps, map_specs=specs)


def prior_counts(prior: np.ndarray, k: int) -> np.ndarray:
    """A prior of k neighbours as uint8 counts (k times it): lossless, a quarter of float32."""
    counts = np.rint(np.asarray(prior) * k)
    if np.abs(counts - np.asarray(prior) * k).max() > 1e-3 or counts.max() > 255:
        raise ValueError(f"not a prior of {k} neighbours (its values are not multiples of 1/{k})")
    return counts.astype(np.uint8)


__all__ = ["PRIOR", "SKELETON_CHANNELS", "WORKING_SIDE", "AddPrior", "PriorMaker", "skeleton_map", "prior_counts", "working_shape"]
