"""Augmentation and its inverse: one affine warp per sample moves image, labels and joints together.

Conventions used throughout this module:

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
- Sizes are (height, width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np

from ..schemas.base import IGNORE_INDEX, JointSchema, LabelSchema
from .sample import MISSING, Sample

if TYPE_CHECKING:
    import torch

Size = tuple[int, int]
Schema = Union[LabelSchema, JointSchema]

# ImageNet's mean colour on 0..255: padding with it becomes zero after normalisation.
IMAGENET_MEAN_RGB = (124, 116, 104)

# cv2 handles at most this many channels in one call (CV_CN_MAX).
_CV2_MAX_CHANNELS = 512


# --------------------------------------------------------------------------- parameters


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


# --------------------------------------------------------------------------- matrices


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


# --------------------------------------------------------------------------- forward warp


def _label_lookup(schema: LabelSchema) -> np.ndarray:
    """A 256-entry table mapping each label id to its mirror partner (255 and unknown ids kept)."""
    lut = np.arange(256, dtype=np.uint8)
    lut[: schema.num_classes] = schema.flip_permutation
    return lut


def _need_schema(schema: Schema | None, what: str) -> Schema:
    if schema is None:
        raise ValueError(
            f"the affine matrix mirrors the image, so the {what} schema is needed to swap left and right"
        )
    return schema


def warp_keypoints(
    keypoints: np.ndarray,
    matrix: np.ndarray,
    out_size: Size,
    joint_schema: JointSchema | None = None,
) -> np.ndarray:
    """Move (P, K, 3) keypoints by ``matrix`` into an image of ``out_size``.

    Joints that land outside the output (beyond the outer pixel edges) become MISSING with
    NaN x, y; the others keep their flag. A mirroring matrix swaps left/right joints by
    ``joint_schema``.
    """
    m = _check_matrix(matrix)
    out_h, out_w = _check_size(out_size, "out_size")
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"keypoints must be (P, K, 3), got {kp.shape}")
    xy = transform_points(kp[..., :2], m)
    present = (kp[..., 2] != MISSING) & np.isfinite(xy).all(axis=-1)
    inside = (
        present
        & (xy[..., 0] >= -0.5) & (xy[..., 0] <= out_w - 0.5)
        & (xy[..., 1] >= -0.5) & (xy[..., 1] <= out_h - 0.5)
    )
    out = np.empty_like(kp)
    out[..., :2] = np.where(inside[..., None], xy, np.nan)
    out[..., 2] = np.where(inside, kp[..., 2], MISSING)
    if is_mirroring(m):
        schema = _need_schema(joint_schema, "joint")
        if kp.shape[1] != schema.num_joints:
            raise ValueError(
                f"keypoints have {kp.shape[1]} joints but joint schema {schema.name!r} has {schema.num_joints}"
            )
        # Joint i of the mirrored image is the partner of joint i of the source.
        out = out[:, schema.flip_permutation]
    return out


def warp_sample(
    sample: Sample,
    matrix: np.ndarray,
    out_size: Size,
    label_schema: LabelSchema | None = None,
    joint_schema: JointSchema | None = None,
    *,
    fill: tuple[int, int, int] = IMAGENET_MEAN_RGB,
) -> Sample:
    """Warp image (bilinear), label (nearest, 255 where the source lies outside the image) and
    keypoints with one 2x3 matrix into an image of ``out_size`` = (height, width).

    A mirroring matrix swaps left/right classes and joints by the schemas (required then for
    whichever of label and keypoints the sample has). The returned meta records
    ``affine`` (original file -> this sample, composed with any earlier warp), ``orig_size``
    and ``flipped``; the rest of the meta is copied.
    """
    m = _check_matrix(matrix)
    out_h, out_w = _check_size(out_size, "out_size")
    mirrored = is_mirroring(m)
    image = cv2.warpAffine(
        np.ascontiguousarray(sample.image), m, (out_w, out_h),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(int(c) for c in fill),
    )
    label = None
    if sample.label is not None:
        if sample.label.dtype != np.uint8:
            raise ValueError(f"Sample.label must be uint8, got {sample.label.dtype}")
        label = cv2.warpAffine(
            np.ascontiguousarray(sample.label), m, (out_w, out_h),
            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE_INDEX,
        )
        if mirrored:
            label = _label_lookup(_need_schema(label_schema, "label"))[label]  # type: ignore[arg-type]
    keypoints = None
    if sample.keypoints is not None:
        keypoints = warp_keypoints(sample.keypoints, m, (out_h, out_w), joint_schema)

    meta = dict(sample.meta)
    if "affine" in meta:
        total = compose_affine(m, meta["affine"])
    else:
        total = m
        meta["orig_size"] = sample.size
    meta["affine"] = total
    meta["flipped"] = is_mirroring(total)
    return Sample(image=image, label=label, keypoints=keypoints, meta=meta)


# --------------------------------------------------------------------------- inverse warp


def _is_torch(x: object) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(x, torch.Tensor)


def _check_channels(count: int, schema: Schema | None) -> None:
    if schema is None:
        return
    expected = schema.num_classes if isinstance(schema, LabelSchema) else schema.num_joints
    if count != expected:
        raise ValueError(f"prediction has {count} channels but schema {schema.name!r} has {expected}")


def _torch_grid(matrix: np.ndarray, in_size: Size, out_size: Size, device: "torch.device") -> "torch.Tensor":
    """(1, H, W, 2) grid_sample coordinates: for each output pixel, where to read the input."""
    import torch

    in_h, in_w = in_size
    out_h, out_w = out_size
    m = torch.as_tensor(matrix, dtype=torch.float32, device=device)
    ys = torch.arange(out_h, dtype=torch.float32, device=device)[:, None]
    xs = torch.arange(out_w, dtype=torch.float32, device=device)[None, :]
    x = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    y = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    # align_corners=False: -1 and 1 are the outer edges of the border pixels.
    grid = torch.stack(((2 * x + 1) / in_w - 1, (2 * y + 1) / in_h - 1), dim=-1)
    return grid[None]


def warp_back(
    pred: "np.ndarray | torch.Tensor",
    matrix: np.ndarray,
    orig_size: Size,
    schema: Schema | None = None,
    *,
    mode: str = "bilinear",
    fill: float | None = None,
) -> "np.ndarray | torch.Tensor":
    """Map a network-size prediction back onto the original image.

    ``matrix`` is the sample's ``meta["affine"]`` (original -> network pixels) and
    ``orig_size`` its ``meta["orig_size"]``. The prediction's pixels must be the network
    input's pixels: upsample strided outputs to the input size first.

    - (C, h, w) scores (logits, probabilities, heatmaps) -> (C, H, W), interpolated by
      ``mode`` ("bilinear" or "nearest"); ``fill`` (default 0) where the original pixel was
      outside the network input.
    - (h, w) label map -> (H, W) label map, always nearest; ``fill`` defaults to 255.

    If the forward warp mirrored, channels (or label ids) are swapped back by ``schema``
    (a LabelSchema for parsing, a JointSchema for heatmaps), which is then required. NumPy
    input gives NumPy output (cv2); a torch tensor gives a tensor on the same device
    (grid_sample), so this runs on GPU.
    """
    m = _check_matrix(matrix)
    out_h, out_w = _check_size(orig_size, "orig_size")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', not {mode!r}")
    if pred.ndim not in (2, 3):
        raise ValueError(f"prediction must be (C, h, w) scores or an (h, w) label map, got shape {tuple(pred.shape)}")
    perm = None
    if is_mirroring(m):
        perm = _need_schema(schema, "label or joint").flip_permutation  # type: ignore[union-attr]
    if pred.ndim == 3:
        _check_channels(int(pred.shape[0]), schema)
        fill_value = 0.0 if fill is None else float(fill)
        if _is_torch(pred):
            return _warp_back_scores_torch(pred, m, (out_h, out_w), perm, mode, fill_value)  # type: ignore[arg-type]
        return _warp_back_scores_numpy(np.asarray(pred), m, (out_h, out_w), perm, mode, fill_value)
    if schema is not None and not isinstance(schema, LabelSchema):
        raise ValueError("a label map needs a LabelSchema, not a JointSchema")
    fill_label = IGNORE_INDEX if fill is None else int(fill)
    if _is_torch(pred):
        return _warp_back_labels_torch(pred, m, (out_h, out_w), perm, fill_label)  # type: ignore[arg-type]
    return _warp_back_labels_numpy(np.asarray(pred), m, (out_h, out_w), perm, fill_label)


def _warp_back_scores_numpy(
    pred: np.ndarray, m: np.ndarray, out_size: Size, perm: np.ndarray | None, mode: str, fill: float
) -> np.ndarray:
    if pred.dtype not in (np.float32, np.float64):
        pred = pred.astype(np.float32)
    if perm is not None:
        pred = pred[perm]
    out_h, out_w = out_size
    flags = (cv2.INTER_LINEAR if mode == "bilinear" else cv2.INTER_NEAREST) | cv2.WARP_INVERSE_MAP
    # cv2's border value has four components; shifting by the fill makes a zero border
    # equal the fill for any number of channels.
    hwc = np.moveaxis(pred - fill if fill else pred, 0, -1)
    chunks = []
    for start in range(0, hwc.shape[2], _CV2_MAX_CHANNELS):
        part = np.ascontiguousarray(hwc[:, :, start : start + _CV2_MAX_CHANNELS])
        warped = cv2.warpAffine(part, m, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        chunks.append(warped.reshape(out_h, out_w, part.shape[2]))  # cv2 drops a single channel axis
    out = np.moveaxis(np.concatenate(chunks, axis=2), -1, 0)
    return np.ascontiguousarray(out + fill if fill else out)


def _warp_back_scores_torch(
    pred: "torch.Tensor", m: np.ndarray, out_size: Size, perm: np.ndarray | None, mode: str, fill: float
) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    dtype = pred.dtype
    x = pred if dtype in (torch.float32, torch.float64) else pred.float()
    if perm is not None:
        x = x.index_select(0, torch.as_tensor(perm, device=x.device))
    grid = _torch_grid(m, (int(x.shape[1]), int(x.shape[2])), out_size, x.device).to(x.dtype)
    # grid_sample pads with zeros; shifting by the fill makes the padding equal the fill.
    shifted = x - fill if fill else x
    out = F.grid_sample(shifted[None], grid, mode=mode, padding_mode="zeros", align_corners=False)[0]
    if fill:
        out = out + fill
    return out if dtype in (torch.float32, torch.float64) or not dtype.is_floating_point else out.to(dtype)


def _warp_back_labels_numpy(
    pred: np.ndarray, m: np.ndarray, out_size: Size, perm: np.ndarray | None, fill: int
) -> np.ndarray:
    if perm is not None:
        pred = np.where(pred < len(perm), perm[np.clip(pred, 0, len(perm) - 1)], pred).astype(pred.dtype)
    out_h, out_w = out_size
    in_h, in_w = pred.shape
    ys, xs = np.mgrid[0:out_h, 0:out_w]
    src = transform_points(np.stack([xs, ys], axis=-1), m)
    col = np.rint(src[..., 0])
    row = np.rint(src[..., 1])
    inside = (col >= 0) & (col < in_w) & (row >= 0) & (row < in_h)
    out = np.full((out_h, out_w), fill, dtype=pred.dtype)
    out[inside] = pred[row[inside].astype(np.intp), col[inside].astype(np.intp)]
    return out


def _warp_back_labels_torch(
    pred: "torch.Tensor", m: np.ndarray, out_size: Size, perm: np.ndarray | None, fill: int
) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    labels = pred.long()
    if perm is not None:
        lut = torch.as_tensor(perm, device=pred.device)
        labels = torch.where(labels < len(perm), lut[labels.clamp(0, len(perm) - 1)], labels)
    grid = _torch_grid(m, (int(pred.shape[0]), int(pred.shape[1])), out_size, pred.device)
    # Shift ids by one so that grid_sample's zero padding marks pixels from outside.
    sampled = F.grid_sample(
        (labels + 1).float()[None, None], grid, mode="nearest", padding_mode="zeros", align_corners=False
    )[0, 0].round().long()
    out = torch.where(sampled == 0, torch.full_like(sampled, fill), sampled - 1)
    return out.to(pred.dtype)


def warp_back_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., 2) network-input points (e.g. predicted joints) back to original pixels.

    Joint order is not touched: for a mirrored input, reorder predictions by the joint
    schema (or predict on un-mirrored inputs, as evaluation does).
    """
    return transform_points(points, invert_affine(matrix))


# --------------------------------------------------------------------------- test-time flip


def _flip_channels(t: "torch.Tensor", perm: np.ndarray, name: str) -> "torch.Tensor":
    import torch

    if not isinstance(t, torch.Tensor) or t.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) torch tensor, got {type(t).__name__} {tuple(getattr(t, 'shape', ()))}")
    if t.shape[1] != len(perm):
        raise ValueError(f"tensor has {t.shape[1]} channels but schema {name!r} has {len(perm)}")
    return t.flip(-1).index_select(1, torch.as_tensor(perm, device=t.device))


def flip_logits(logits: "torch.Tensor", label_schema: LabelSchema) -> "torch.Tensor":
    """Mirror (B, C, H, W) parsing scores horizontally and swap left/right class channels.

    Applying it to the output for a flipped input gives scores for the unflipped input;
    applying it twice is the identity.
    """
    return _flip_channels(logits, label_schema.flip_permutation, label_schema.name)


def flip_heatmaps(heatmaps: "torch.Tensor", joint_schema: JointSchema) -> "torch.Tensor":
    """Mirror (B, K, H, W) joint heatmaps horizontally and swap left/right joint channels.

    The heatmap's own pixel grid is mirrored (column j -> W - 1 - j).
    """
    return _flip_channels(heatmaps, joint_schema.flip_permutation, joint_schema.name)


# --------------------------------------------------------------------------- photometric


def _luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, 1) grey levels of an RGB float image (ITU-R BT.601 weights)."""
    return (image @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


@dataclass(frozen=True)
class PhotometricJitter:
    """Random colour changes of an RGB uint8 image; geometry and annotations are untouched.

    brightness, contrast, saturation: each factor is drawn from [1 - v, 1 + v];
    hue: shift drawn from [-hue, hue] in fractions of a full turn;
    noise_std: standard deviation of Gaussian noise on 0..255 (0 = none);
    blur_prob, blur_sigma: probability of a Gaussian blur and its sigma range in pixels.
    """

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    noise_std: float = 0.0
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.0)

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"PhotometricJitter.{name} must lie in [0, 1), not {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f"PhotometricJitter.hue must lie in [0, 0.5], not {self.hue}")
        if self.noise_std < 0 or not 0 <= self.blur_prob <= 1:
            raise ValueError("PhotometricJitter.noise_std must be >= 0 and blur_prob in [0, 1]")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"PhotometricJitter.blur_sigma must be (low, high) with 0 < low <= high, not {self.blur_sigma}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        img = image.astype(np.float32)
        if self.brightness:
            img *= rng.uniform(1 - self.brightness, 1 + self.brightness)
        if self.contrast:
            mean = float(_luminance(img).mean())
            img = (img - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
        if self.saturation:
            grey = _luminance(img)
            img = (img - grey) * rng.uniform(1 - self.saturation, 1 + self.saturation) + grey
        img = np.clip(img, 0, 255)
        if self.hue:
            # Float HSV in cv2: hue in degrees [0, 360), values in [0, 1].
            hsv = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + 360.0 * rng.uniform(-self.hue, self.hue)) % 360.0
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
        if self.noise_std:
            img = img + rng.normal(0.0, self.noise_std, img.shape).astype(np.float32)
        if self.blur_prob and rng.random() < self.blur_prob:
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*self.blur_sigma)))
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- transforms


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
    """Deterministic letterbox to ``out_size``: the whole image centred and fitted keeping its
    aspect ratio, optionally zoomed by ``scale``; no flip, no jitter.

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

    def __call__(self, sample: Sample) -> Sample:
        matrix = affine_matrix(sample.size, self.out_size, AffineParams(scale=self.scale))
        out = warp_sample(sample, matrix, self.out_size, fill=self.fill)
        if self.keep_original:
            out.meta["orig_label"] = sample.label
            out.meta["orig_keypoints"] = sample.keypoints
        return out


__all__ = [
    "IMAGENET_MEAN_RGB", "AffineParams", "EvalTransform", "PhotometricJitter", "RandomAffine",
    "TrainTransform", "affine_matrix", "compose_affine", "flip_heatmaps", "flip_logits", "invert_affine",
    "is_mirroring", "transform_points", "warp_back", "warp_back_points", "warp_keypoints", "warp_sample",
]
