"""The forward warp of a Sample and the inverse warps of predictions.

Conventions: :mod:`humanparse.data.transforms`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import cv2
import numpy as np

from ...preprocessing import IMAGENET_FILL as IMAGENET_MEAN_RGB  # ImageNet-normalised models' letterbox
from ...schemas.base import IGNORE_INDEX, JointSchema, LabelSchema
from ..sample import MISSING, MapSpec, Sample
from .geometry import Size, _check_matrix, _check_size, compose_affine, invert_affine, is_mirroring, transform_points

if TYPE_CHECKING:
    import torch

Schema = Union[LabelSchema, JointSchema]

# ImageNet's mean colour on 0..255: padding with it becomes zero after normalisation.

# cv2 handles at most this many channels in one call (CV_CN_MAX).
_CV2_MAX_CHANNELS = 512


# --------------------------------------------------------------------------- forward warp


def _warp_planes(planes: np.ndarray, m: np.ndarray, out_size: Size, flags: int, fill: float) -> np.ndarray:
    """cv2.warpAffine of (C, h, w) planes, any C; ``fill`` where the source lies outside the input."""
    out_h, out_w = out_size
    hwc = np.moveaxis(planes, 0, -1)
    # cv2 takes at most 512 channels a call and a border value of four components, so a
    # nonzero fill over more than four channels goes four channels at a time.
    step = _CV2_MAX_CHANNELS if fill == 0 else 4
    chunks = []
    for start in range(0, hwc.shape[2], step):
        part = np.ascontiguousarray(hwc[:, :, start : start + step])
        warped = cv2.warpAffine(
            part, m, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=(fill,) * 4
        )
        chunks.append(warped.reshape(out_h, out_w, part.shape[2]))  # cv2 drops a single channel axis
    return np.ascontiguousarray(np.moveaxis(np.concatenate(chunks, axis=2), -1, 0))


def _map_permutation(
    name: str, spec: MapSpec, channels: int, mirrored: bool, label_schema: LabelSchema | None
) -> np.ndarray | None:
    """The channel order of a map under a warp: swapped by the label schema only when the map
    is class-indexed and the warp mirrors."""
    if not (spec.class_indexed and mirrored):
        return None
    schema = _need_schema(label_schema, "label")
    if not isinstance(schema, LabelSchema) or channels != schema.num_classes:
        raise ValueError(
            f"map {name!r} is class-indexed with {channels} channels, which label schema "
            f"{schema.name!r} does not index"
        )
    return schema.flip_permutation


def _warp_map(
    name: str, array: np.ndarray, spec: MapSpec, m: np.ndarray, out_size: Size, label_schema: LabelSchema | None
) -> np.ndarray:
    planes = array if array.ndim == 3 else array[None]
    perm = _map_permutation(name, spec, len(planes), is_mirroring(m), label_schema)
    if spec.kind == "mask":
        # Nearest keeps a mask's values; cv2 reads a bool mask as the uint8 of the same bytes.
        out = _warp_planes(planes.view(np.uint8), m, out_size, cv2.INTER_NEAREST, spec.fill).view(array.dtype)
    else:
        data = planes if planes.dtype in (np.float32, np.float64) else planes.astype(np.float32)
        out = _warp_planes(data, m, out_size, cv2.INTER_LINEAR, spec.fill).astype(array.dtype, copy=False)
    if perm is not None:
        # Channel c of the mirrored map is the source's channel of c's partner, as for label ids.
        out = out[perm]
    return out if array.ndim == 3 else out[0]


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
    """Warp image (bilinear), label (nearest, 255 where the source lies outside the image),
    keypoints and maps with one 2x3 matrix into an image of ``out_size`` = (height, width).

    Each map moves as its :class:`MapSpec` says: continuous maps bilinearly, masks by nearest
    neighbour, the spec's fill where the source lies outside the image, dtype kept.
    A mirroring matrix swaps left/right classes, joints and the channels of class-indexed maps
    by the schemas (required then for whichever of these the sample has). The returned meta records
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

    maps = {
        name: _warp_map(name, array, sample.map_specs[name], m, (out_h, out_w), label_schema)
        for name, array in sample.maps.items()
    }

    meta = dict(sample.meta)
    if "affine" in meta:
        total = compose_affine(m, meta["affine"])
    else:
        total = m
        meta["orig_size"] = sample.size
    meta["affine"] = total
    meta["flipped"] = is_mirroring(total)
    return Sample(image=image, label=label, keypoints=keypoints, meta=meta, maps=maps, map_specs=dict(sample.map_specs))


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


def _torch_grid(
    matrix: np.ndarray, in_size: Size, out_size: Size, device: "torch.device", rows: tuple[int, int] | None = None
) -> "torch.Tensor":
    """(1, H, W, 2) grid_sample coordinates: for each output pixel (of output ``rows`` only,
    when given), where to read the input."""
    import torch

    in_h, in_w = in_size
    out_w = out_size[1]
    first, stop = (0, out_size[0]) if rows is None else rows
    m = torch.as_tensor(matrix, dtype=torch.float32, device=device)
    ys = torch.arange(first, stop, dtype=torch.float32, device=device)[:, None]
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
    rows: tuple[int, int] | None = None,
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

    ``rows`` = (first, stop) gives only those rows of the original image, (C, stop - first, W)
    or (stop - first, W): the same values as those rows of the whole result (for tensors, the
    same numbers), so a large image can be warped back one band of rows at a time.
    """
    m = _check_matrix(matrix)
    out_h, out_w = _check_size(orig_size, "orig_size")
    if rows is not None:
        if not (isinstance(rows, (tuple, list)) and len(rows) == 2 and 0 <= rows[0] < rows[1] <= out_h):
            raise ValueError(f"rows must be (first, stop) with 0 <= first < stop <= {out_h}, not {rows!r}")
        rows = (int(rows[0]), int(rows[1]))
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
            return _warp_back_scores_torch(pred, m, (out_h, out_w), perm, mode, fill_value, rows)  # type: ignore[arg-type]
        return _warp_back_scores_numpy(np.asarray(pred), m, (out_h, out_w), perm, mode, fill_value, rows)
    if schema is not None and not isinstance(schema, LabelSchema):
        raise ValueError("a label map needs a LabelSchema, not a JointSchema")
    fill_label = IGNORE_INDEX if fill is None else int(fill)
    if _is_torch(pred):
        return _warp_back_labels_torch(pred, m, (out_h, out_w), perm, fill_label, rows)  # type: ignore[arg-type]
    return _warp_back_labels_numpy(np.asarray(pred), m, (out_h, out_w), perm, fill_label, rows)


def _from_row(m: np.ndarray, first: int) -> np.ndarray:
    """The matrix that reads row y of a band starting at ``first`` where ``m`` reads row first + y."""
    shifted = m.copy()
    shifted[:, 2] += first * m[:, 1]
    return shifted


def _warp_back_scores_numpy(
    pred: np.ndarray, m: np.ndarray, out_size: Size, perm: np.ndarray | None, mode: str, fill: float,
    rows: tuple[int, int] | None = None,
) -> np.ndarray:
    if pred.dtype not in (np.float32, np.float64):
        pred = pred.astype(np.float32)
    if perm is not None:
        pred = pred[perm]
    if rows is not None:
        m, out_size = _from_row(m, rows[0]), (rows[1] - rows[0], out_size[1])
    flags = (cv2.INTER_LINEAR if mode == "bilinear" else cv2.INTER_NEAREST) | cv2.WARP_INVERSE_MAP
    # Shifting by the fill makes a zero border equal the fill, so all channels go in one call.
    out = _warp_planes(pred - fill if fill else pred, m, out_size, flags, 0)
    return out + fill if fill else out


def _warp_back_scores_torch(
    pred: "torch.Tensor", m: np.ndarray, out_size: Size, perm: np.ndarray | None, mode: str, fill: float,
    rows: tuple[int, int] | None = None,
) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    dtype = pred.dtype
    x = pred if dtype in (torch.float32, torch.float64) else pred.float()
    if perm is not None:
        x = x.index_select(0, torch.as_tensor(perm, device=x.device))
    grid = _torch_grid(m, (int(x.shape[1]), int(x.shape[2])), out_size, x.device, rows).to(x.dtype)
    # grid_sample pads with zeros; shifting by the fill makes the padding equal the fill.
    shifted = x - fill if fill else x
    out = F.grid_sample(shifted[None], grid, mode=mode, padding_mode="zeros", align_corners=False)[0]
    if fill:
        out = out + fill
    return out if dtype in (torch.float32, torch.float64) or not dtype.is_floating_point else out.to(dtype)


def _warp_back_labels_numpy(
    pred: np.ndarray, m: np.ndarray, out_size: Size, perm: np.ndarray | None, fill: int,
    rows: tuple[int, int] | None = None,
) -> np.ndarray:
    if perm is not None:
        pred = np.where(pred < len(perm), perm[np.clip(pred, 0, len(perm) - 1)], pred).astype(pred.dtype)
    first, stop = (0, out_size[0]) if rows is None else rows
    out_h, out_w = stop - first, out_size[1]
    in_h, in_w = pred.shape
    ys, xs = np.mgrid[first:stop, 0:out_w]
    src = transform_points(np.stack([xs, ys], axis=-1), m)
    col = np.rint(src[..., 0])
    row = np.rint(src[..., 1])
    inside = (col >= 0) & (col < in_w) & (row >= 0) & (row < in_h)
    out = np.full((out_h, out_w), fill, dtype=pred.dtype)
    out[inside] = pred[row[inside].astype(np.intp), col[inside].astype(np.intp)]
    return out


def _warp_back_labels_torch(
    pred: "torch.Tensor", m: np.ndarray, out_size: Size, perm: np.ndarray | None, fill: int,
    rows: tuple[int, int] | None = None,
) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    labels = pred.long()
    if perm is not None:
        lut = torch.as_tensor(perm, device=pred.device)
        labels = torch.where(labels < len(perm), lut[labels.clamp(0, len(perm) - 1)], labels)
    grid = _torch_grid(m, (int(pred.shape[0]), int(pred.shape[1])), out_size, pred.device, rows)
    # Shift ids by one so that grid_sample's zero padding marks pixels from outside.
    sampled = F.grid_sample(
        (labels + 1).float()[None, None], grid, mode="nearest", padding_mode="zeros", align_corners=False
    )[0, 0].round().long()
    out = torch.where(sampled == 0, torch.full_like(sampled, fill), sampled - 1)
    return out.to(pred.dtype)


def warp_back_map(
    array: "np.ndarray | torch.Tensor",
    spec: MapSpec,
    matrix: np.ndarray,
    orig_size: Size,
    label_schema: LabelSchema | None = None,
    *,
    name: str = "map",
) -> "np.ndarray | torch.Tensor":
    """Map a network-size map, (h, w) or (C, h, w), back onto the original image as its spec
    says: bilinear or nearest, ``spec.fill`` outside, class channels swapped back by
    ``label_schema`` (then required) if the forward warp mirrored. The dtype is kept; NumPy in,
    NumPy out; a torch tensor stays on its device.
    """
    m = _check_matrix(matrix)
    size = _check_size(orig_size, "orig_size")
    planes = array if array.ndim == 3 else array[None]
    perm = _map_permutation(name, spec, int(planes.shape[0]), is_mirroring(m), label_schema)
    mode = "nearest" if spec.kind == "mask" else "bilinear"
    if _is_torch(planes):
        out = _warp_back_scores_torch(planes, m, size, perm, mode, spec.fill).to(array.dtype)  # type: ignore
    else:
        out = _warp_back_scores_numpy(np.asarray(planes), m, size, perm, mode, spec.fill)
        out = out.astype(array.dtype, copy=False)
    return out if array.ndim == 3 else out[0]


def warp_back_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (..., 2) network-input points (e.g. predicted joints) back to original pixels.

    Joint order is not touched: for a mirrored input, reorder predictions by the joint
    schema (or predict on un-mirrored inputs, as evaluation does).
    """
    return transform_points(points, invert_affine(matrix))
