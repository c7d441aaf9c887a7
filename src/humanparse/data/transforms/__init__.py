"""Augmentation and its inverse: one affine warp per sample moves image, labels and joints together.

Conventions used throughout this package:

- Coordinates: x = column, y = row, in pixels, with pixel centres at integer coordinates
  (pixel (0, 0) covers [-0.5, 0.5] x [-0.5, 0.5]). Image pixels and joint coordinates follow
  the same rule, so a horizontal flip of a W-wide image maps x -> W - 1 - x for both.
- Matrices: a 2x3 matrix ``M`` maps a point of the source image to the destination,
  ``[x', y'] = M @ [x, y, 1]`` (cv2.warpAffine's convention without WARP_INVERSE_MAP).
  ``meta["affine"]`` of a warped sample always maps the pixels of the original file to the
  pixels of the warped sample.
- Left and right: a matrix with a negative determinant mirrors the image. Every function
  here reads that from the matrix itself and swaps left/right classes and joints by the
  schema, so a "flipped" flag can never disagree with the geometry. ``warp_back`` un-swaps
  channels and label ids the same way: callers never permute channels themselves.
- Extra per-pixel maps (``Sample.maps``) move with the same matrix, as each map's
  ``MapSpec`` says: bilinear or nearest, and class-indexed channels swapped like labels.
- Sizes are (height, width).

Modules: ``geometry`` (parameters and matrix algebra), ``warp`` (the forward Sample warp
and the inverse warps), ``photometric`` (colour jitter), ``pipelines`` (TrainTransform,
EvalTransform) and ``flip`` (test-time mirroring of batched outputs).
"""

from .flip import flip_heatmaps, flip_logits
from .geometry import (
    AffineParams, RandomAffine, affine_matrix, compose_affine, invert_affine, is_mirroring, transform_points,
)
from .photometric import PhotometricJitter
from .pipelines import EvalTransform, TrainTransform
from .warp import IMAGENET_MEAN_RGB, warp_back, warp_back_map, warp_back_points, warp_keypoints, warp_sample

__all__ = [
    "IMAGENET_MEAN_RGB", "AffineParams", "EvalTransform", "PhotometricJitter", "RandomAffine",
    "TrainTransform", "affine_matrix", "compose_affine", "flip_heatmaps", "flip_logits", "invert_affine",
    "is_mirroring", "transform_points", "warp_back", "warp_back_map", "warp_back_points", "warp_keypoints",
    "warp_sample",
]
