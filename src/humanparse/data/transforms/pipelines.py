"""The training and evaluation transforms.

Both are called as ``transform(sample, rng=None)``, so a dataset calls them alike and the
training transform draws its augmentation from the rng it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ...schemas.base import JointSchema, LabelSchema
from ..sample import Sample
from .geometry import AffineParams, RandomAffine, Size, _check_size, affine_matrix
from .photometric import PhotometricJitter
from .warp import IMAGENET_MEAN_RGB, warp_sample


@dataclass
class TrainTransform:
    """Training augmentation: a random affine warp to ``out_size``, then photometric jitter.

    Randomness comes from ``rng`` when given to the call, else from a generator seeded with
    ``seed``. Data-loader workers each hold a copy of that generator: pass a per-call rng
    (e.g. seeded from the sample index and epoch) or reseed per worker to avoid repeats.
    """

    out_size: Size
    label_schema: LabelSchema | None = None
    joint_schema: JointSchema | None = None
    affine: RandomAffine = field(default_factory=RandomAffine)
    jitter: PhotometricJitter | None = field(default_factory=PhotometricJitter)
    seed: int | None = None
    fill: tuple[int, int, int] = IMAGENET_MEAN_RGB

    def __post_init__(self) -> None:
        self.out_size = _check_size(self.out_size, "out_size")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        rng = self._rng if rng is None else rng
        params = self.affine.sample(rng)
        matrix = affine_matrix(sample.size, self.out_size, params)
        out = warp_sample(sample, matrix, self.out_size, self.label_schema, self.joint_schema, fill=self.fill)
        if self.jitter is not None:
            out = replace(out, image=self.jitter(out.image, rng))
        return out


@dataclass
class EvalTransform:
    """Deterministic letterbox to ``out_size``: the whole image (or the ``box`` given to the
    call) centred and fitted keeping its aspect ratio, optionally zoomed by ``scale``; no flip,
    no jitter.

    The meta keeps ``affine`` and ``orig_size`` for :func:`warp_back`; with ``keep_original``
    it also keeps ``orig_label`` and ``orig_keypoints`` so that metrics can be computed at the
    original resolution.
    """

    out_size: Size
    scale: float = 1.0
    keep_original: bool = True
    fill: tuple[int, int, int] = IMAGENET_MEAN_RGB

    def __post_init__(self) -> None:
        self.out_size = _check_size(self.out_size, "out_size")

    def __call__(
        self, sample: Sample, rng: np.random.Generator | None = None, box: tuple[float, float, float, float] | None = None
    ) -> Sample:
        """``rng`` is accepted and unused, so that both transforms are called alike. ``box``
        (x0, y0, x1, y1, outer pixel edges of the original) letterboxes that region, not the
        whole image: a top-down view of one person."""
        matrix = affine_matrix(sample.size, self.out_size, AffineParams(scale=self.scale), box=box)
        out = warp_sample(sample, matrix, self.out_size, fill=self.fill)
        if self.keep_original:
            out.meta["orig_label"] = sample.label
            out.meta["orig_keypoints"] = sample.keypoints
        return out
