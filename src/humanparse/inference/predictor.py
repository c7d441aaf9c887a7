"""The predictor: parsing and joints at each image's original resolution, with test-time augmentation.

For every test scale the images are letterboxed to the network's input size (the scale
zooms on top of the fit), run through the model as one batch, the logits and joint heatmaps
upsampled to the input size, optionally averaged with the prediction for the mirrored input
(its left/right classes and joints swapped back by the schemas, never by hard-coded
indices), and warped back onto the original pixels. The scales are then averaged per
original pixel over the views that see that pixel (a zoom above 1 crops the image's edges
away). Parsing is the argmax of the averaged logits; each joint is the refined peak of its
averaged heatmap (see :func:`humanparse.data.heatmaps.decode_heatmaps`).

The original-resolution steps of :class:`Predictor` go one band of rows at a time (at most
:data:`BAND_VALUES` channel-pixels warped back at once), so their memory is bounded whatever
the photo's size; a band's pixels are the same numbers as those of the whole image.

Validation during training goes through the same three steps for its letterboxed batches
(:func:`output_maps`, :func:`original_views`, :func:`decode_maps`), so the scores it picks the
best checkpoint by are the ones ``humanparse evaluate`` reproduces.

A top-down view (one person of a pose dataset) is the same path with a box: the box, not the
image, is letterboxed into the input, the maps are warped back onto the window of the original
image that the box's views see, and the joints decoded there are moved by the window's origin
into the image's pixels (:class:`View`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import positive_int
from ..data.heatmaps import decode_heatmaps, heatmap_peaks, suppress_close
from ..data.sample import MapSpec, Sample
from ..data.transforms import (
    AffineParams, EvalTransform, affine_matrix, compose_affine, flip_heatmaps, flip_logits, invert_affine,
    transform_points, warp_back,
)
from ..models.multiscale import check_scales
from ..models.output import ModelOutput, extra_inputs_of
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, normalize
from ..schemas import JointSchema, LabelSchema
from ..devices import resolve_device

if TYPE_CHECKING:
    from .model_file import SavedModel


def class_ids(scores: torch.Tensor) -> torch.Tensor:
    """(C, H, W) scores -> (H, W) int64 ids of the highest score (the first on ties), as
    ``argmax(0)``; ``max(0)`` reduces over the leading axis about 4x faster on a CPU."""
    return scores.max(0).indices


# Channel-pixels of one band of original rows warped back at a time: 2**25 float32 values,
# 128 MiB a copy (a 24-megapixel photo's 20 class maps at once would be 1.9 GiB a copy).
BAND_VALUES = 1 << 25


def row_bands(height: int, width: int, channels: int, budget: int | None = None) -> Iterator[tuple[int, int]]:
    """(first, stop) row ranges covering ``height`` rows, each at most ``budget`` channel-pixels
    (default :data:`BAND_VALUES`; at least one row)."""
    rows = max(1, (BAND_VALUES if budget is None else budget) // max(1, channels * width))
    for first in range(0, height, rows):
        yield first, min(height, first + rows)


@dataclass
class Prediction:
    """One image's prediction at its original resolution: (H, W) uint8 class ids and, when
    asked for, (C, H, W) float32 probabilities (None for a pose-only model); for a model that
    predicts joints, (K, 3) float32 joints (x, y, peak score) in the schema's order; when asked
    for, a multi-scale model's (S, H, W) float32 per-pixel weights over its input scales and a
    hierarchical model's coarse class ids at each level of the hierarchy."""

    labels: np.ndarray | None
    probabilities: np.ndarray | None = None
    joints: np.ndarray | None = None
    scale_weights: np.ndarray | None = None
    # When asked for, HIPN's prediction at each level of the schema's hierarchy: per level, (H, W)
    # uint8 coarse class ids (the argmax of its level scores).
    levels: list[np.ndarray] | None = None
    # (x0, y0, x1, y1): the pixels of the original image that labels, probabilities and scale
    # weights cover (the whole image, unless the prediction was of a box); joints are always in
    # the whole image's pixels.
    window: tuple[int, int, int, int] | None = None


class MapLayout(NamedTuple):
    """How a stack of maps is laid out: parsing logits first (``classes`` of them), joint
    heatmaps between, then weights over input scales (``scales``) and, last, the scores of each
    hierarchy level (``levels``: its number of coarse classes per level); the heatmaps were made
    at ``heatmap_stride`` input pixels per cell."""

    classes: int
    scales: int = 0
    heatmap_stride: int = 1
    levels: tuple[int, ...] = ()

    @property
    def tail(self) -> int:
        """Channels after the heatmaps: scale weights and level scores."""
        return self.scales + sum(self.levels)


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    maps = maps.float()
    if tuple(maps.shape[-2:]) != size:
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return maps


def _upsample_heatmaps(heatmaps: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """Heatmaps at the input size, cell j on input pixel s * j + (s - 1) / 2 as in training
    (upsampling to exactly s times the map, then cropping, keeps that where the input size is
    not a multiple of the stride)."""
    h, w = heatmaps.shape[-2:]
    if stride * h < size[0] or stride * w < size[1]:
        return _upsample(heatmaps, size)
    full = F.interpolate(heatmaps.float(), size=(stride * h, stride * w), mode="bilinear", align_corners=False)
    return full[..., : size[0], : size[1]]


def check_output(output: ModelOutput, label_schema: LabelSchema | None, joint_schema: JointSchema | None) -> None:
    """An error unless the model's output fits the schemas it is read with."""
    for maps, schema, kind, schema_kind, what in (
        (output.logits, label_schema, "parsing logits", "label", "classes"),
        (output.heatmaps, joint_schema, "joint heatmaps", "joint", "joints"),
    ):
        if maps is None:
            continue
        if schema is None:
            raise ValueError(f"the model predicts {kind} but no {schema_kind} schema was given")
        expected = schema.num_classes if what == "classes" else schema.num_joints
        if maps.shape[1] != expected:
            raise ValueError(f"the model predicts {maps.shape[1]} {what} but schema {schema.name!r} has {expected}")
    if output.logits is None and output.heatmaps is None:
        raise ValueError("the model predicts neither parsing logits nor joint heatmaps")


def heatmap_stride_of(model: nn.Module, output: ModelOutput, input_size: tuple[int, int]) -> int:
    """Input pixels per heatmap cell: the model's output stride (or, for a model that does not
    state it, the ratio of input to heatmap size)."""
    stride = getattr(getattr(model, "_orig_mod", model), "output_stride", None)
    if stride:
        return int(stride)
    return max(1, round(input_size[0] / output.heatmaps.shape[-2])) if output.heatmaps is not None else 1


def output_maps(
    output: ModelOutput,
    input_size: tuple[int, int],
    label_schema: LabelSchema | None,
    joint_schema: JointSchema | None,
    heatmap_stride: int,
    *,
    flip: bool = False,
    scale_weights: bool = False,
    level_scores: bool = False,
) -> tuple[torch.Tensor, MapLayout]:
    """A model's output for a letterboxed batch as one (B, C + K (+ S), H, W) float32 stack at the
    input size: parsing logits, joint heatmaps (cell j on input pixel s * j + (s - 1) / 2) and,
    if asked for, the weights over the model's input scales and the scores of each hierarchy
    level (``extras["level_scores"]``, HIPN's). With ``flip`` the batch's second
    half holds the mirrored inputs: it is mirrored back (left/right channels swapped by the
    schemas) and averaged with the first half."""
    check_output(output, label_schema, joint_schema)
    if scale_weights and "scale_weights" not in output.extras:
        raise ValueError("this model computes no per-pixel weights over input scales (SS-NAN and Attention-to-scale do)")
    levels: tuple[int, ...] = ()
    if level_scores:
        if "level_scores" not in output.extras or label_schema is None:
            raise ValueError("this model computes no scores per hierarchy level (HIPN does)")
        levels = tuple(lv.num_classes for lv in label_schema.hierarchy)
        if output.extras["level_scores"].shape[1] != sum(levels):
            raise ValueError(f"the model's level scores have {output.extras['level_scores'].shape[1]} channels, the "
                             f"schema's hierarchy levels {sum(levels)} classes")

    def average_mirror(maps: torch.Tensor, unmirror: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if not flip:
            return maps
        plain, mirrored = maps.chunk(2)
        return (plain + unmirror(mirrored)) / 2

    parts = []
    if output.logits is not None:
        assert label_schema is not None
        parts.append(average_mirror(_upsample(output.logits, input_size), lambda m: flip_logits(m, label_schema)))
    if output.heatmaps is not None:
        assert joint_schema is not None
        heatmaps = _upsample_heatmaps(output.heatmaps, input_size, heatmap_stride)
        parts.append(average_mirror(heatmaps, lambda m: flip_heatmaps(m, joint_schema)))
    if scale_weights:
        # Weights over input scales have no left/right channels: the mirror is only undone.
        parts.append(average_mirror(_upsample(output.extras["scale_weights"], input_size), lambda m: m.flip(-1)))
    if levels:
        assert label_schema is not None
        # Each level's coarse classes swap as its left/right pairs say, at their offset in the stack.
        offsets = np.cumsum((0, *levels[:-1]))
        order = torch.as_tensor(np.concatenate([
            lv.flip_permutation + offset for lv, offset in zip(label_schema.hierarchy, offsets)
        ]), device=output.extras["level_scores"].device)
        scores = _upsample(output.extras["level_scores"], input_size)
        parts.append(average_mirror(scores, lambda m: m.index_select(1, order).flip(-1)))
    layout = MapLayout(
        output.logits.shape[1] if output.logits is not None else 0,
        output.extras["scale_weights"].shape[1] if scale_weights else 0,
        heatmap_stride,
        levels,
    )
    return torch.cat(parts, dim=1), layout


@dataclass(frozen=True)
class View:
    """Where one image's maps lie: ``affine`` takes original pixels to network-input pixels at
    zoom 1 (the letterbox of the whole image, or of a person's box); ``window`` is the
    (x0, y0, x1, y1) block of original pixels (half-open) the maps are warped back onto: the
    whole image, or what the views of a box see of it."""

    affine: np.ndarray
    window: tuple[int, int, int, int]

    @classmethod
    def whole(cls, affine: np.ndarray, size: tuple[int, int]) -> View:
        """The view of a whole (h, w) image letterboxed by ``affine``."""
        return cls(affine, (0, 0, int(size[1]), int(size[0])))

    @property
    def zoom(self) -> float:
        """Input pixels per original pixel (the letterbox never rotates or shears)."""
        return math.sqrt(abs(float(np.linalg.det(np.asarray(self.affine)[:, :2]))))


def box_window(
    size: tuple[int, int], box: Sequence[float], input_size: tuple[int, int], scales: Sequence[float]
) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) pixels of an (h, w) image that the letterboxes of ``box`` at the
    given zooms see, clipped to the image; a ValueError if that is nothing."""
    h, w = size
    out_h, out_w = input_size
    corners = np.array([[-0.5, -0.5], [out_w - 0.5, out_h - 0.5]])
    seen = np.concatenate([
        transform_points(corners, invert_affine(affine_matrix(size, input_size, AffineParams(scale=s), box=tuple(box))))
        for s in scales
    ])
    # Pixel i spans [i - 0.5, i + 0.5]: keep those that overlap what the views see.
    x0, y0 = (max(0, math.floor(v + 0.5)) for v in seen.min(axis=0))
    x1, y1 = (min(limit, math.ceil(v + 0.5)) for v, limit in zip(seen.max(axis=0), (w, h)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)} lies outside the {h}x{w} image")
    return x0, y0, x1, y1


def window_affine(affine: np.ndarray, window: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``affine`` (original pixels -> input pixels) for the pixels of ``window`` (x0, y0, x1, y1),
    and the window's (h, w): window pixel (u, v) is original pixel (u + x0, v + y0)."""
    x0, y0, x1, y1 = window
    return compose_affine(affine, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])), (y1 - y0, x1 - x0)


def original_views(
    maps: torch.Tensor, affines: Sequence[np.ndarray], original_sizes: Sequence[tuple[int, int]]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Per image of a (B, M, H, W) stack at the input size: its maps (M, h, w) warped back onto
    its original (h, w) pixels by the letterbox's affine, and the (1, h, w) coverage (how much
    of each original pixel the view sees; bilinear sampling mixes in zeros from outside it)."""
    ones = torch.ones_like(maps[:, :1])
    for i, (affine, size) in enumerate(zip(affines, original_sizes)):
        # The letterbox never mirrors, so no channel swap is involved here.
        both = warp_back(torch.cat([maps[i], ones[i]]), affine, size)
        yield both[:-1], both[-1:]


@dataclass
class DecodedMaps:
    """One image's averaged maps read out, as tensors on the maps' device (see :class:`Prediction`)."""

    labels: torch.Tensor | None
    logits: torch.Tensor | None
    joints: torch.Tensor | None
    scale_weights: torch.Tensor | None


def decode_maps(maps: torch.Tensor, layout: MapLayout, view: View) -> DecodedMaps:
    """One image's (M, h, w) averaged maps over its ``view``'s window of original pixels -> class
    ids (argmax of the logits), the logits, joints (the refined peaks of the heatmaps, (K, 3):
    x, y, score, in the whole image's pixels) and weights over input scales, each None where the
    layout has none."""
    end = maps.shape[0] - sum(layout.levels)
    weights = maps[end - layout.scales : end] if layout.scales else None
    maps = maps[: end - layout.scales]
    logits = maps[: layout.classes] if layout.classes else None
    labels = class_ids(logits) if logits is not None else None
    joints = None
    if maps.shape[0] > layout.classes:
        # The maps were upsampled from cells of stride / zoom original pixels (zoom: the view's
        # letterbox of scale 1); the refinement reads the peak's neighbours that far away.
        joints = decode_heatmaps(maps[None, layout.classes :], stride=1, spacing=layout.heatmap_stride / view.zoom)[0]
        x0, y0 = view.window[:2]
        if x0 or y0:
            joints = joints + torch.tensor([x0, y0, 0.0], device=joints.device)
    return DecodedMaps(labels, logits, joints, weights)


class DecodedArrays(NamedTuple):
    """One image's prediction read out band by band, as NumPy arrays (see :class:`Prediction`)."""

    labels: np.ndarray | None
    probabilities: np.ndarray | None
    joints: np.ndarray | None
    scale_weights: np.ndarray | None
    levels: list[np.ndarray] | None = None


@dataclass
class ImageViews:
    """One image's maps at the network's input size under each test scale, (M, h, w) each, with
    the affine that takes its :class:`View`'s window pixels to that scale's input pixels."""

    view: View
    maps: list[torch.Tensor]
    affines: list[np.ndarray]

    @property
    def size(self) -> tuple[int, int]:
        """The (h, w) of the window the maps are warped back onto."""
        x0, y0, x1, y1 = self.view.window
        return y1 - y0, x1 - x0

    def averaged(self, rows: tuple[int, int], channels: slice = slice(None)) -> torch.Tensor:
        """(M', stop - first, w): ``channels`` of the maps warped back onto the window's ``rows``
        and averaged per pixel over the scales that see it."""
        total: torch.Tensor | None = None
        coverage: torch.Tensor | None = None
        for maps, affine in zip(self.maps, self.affines):
            part = maps[channels]
            # The letterbox never mirrors, so no channel swap is involved here; the ones give
            # each pixel's coverage (bilinear sampling mixes in zeros from outside the view).
            both = warp_back(torch.cat([part, torch.ones_like(part[:1])]), affine, self.size, rows=rows)
            total = both[:-1] if total is None else total + both[:-1]
            coverage = both[-1:] if coverage is None else coverage + both[-1:]
        assert total is not None and coverage is not None
        # Dividing the sum by the summed coverage averages each pixel over the views that see
        # it and undoes the zero padding at the border.
        return total / coverage.clamp_min(1e-6)


def _check_boxes(images: Sequence[np.ndarray], boxes: Sequence[Sequence[float] | None] | None) -> list:
    """One (x0, y0, x1, y1) box or None per image."""
    if boxes is None:
        return [None] * len(images)
    boxes = list(boxes)
    if len(boxes) != len(images):
        raise ValueError(f"give one box (or None) per image: {len(boxes)} boxes for {len(images)} images")
    for i, box in enumerate(boxes):
        if box is None:
            continue
        values = np.asarray(box, dtype=np.float64)
        if values.shape != (4,) or not np.isfinite(values).all() or values[2] <= values[0] or values[3] <= values[1]:
            raise ValueError(f"box {i}: expected (x0, y0, x1, y1) finite numbers with x1 > x0 and y1 > y0, got {box!r}")
    return boxes


def _check_images(images: Sequence[np.ndarray]) -> None:
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            shape = getattr(image, "shape", None)
            raise ValueError(f"image {i}: expected an (H, W, 3) uint8 RGB array, got {shape} {getattr(image, 'dtype', type(image))}")


class Predictor:
    """Parsing logits and joint heatmaps with multi-scale and flip test-time augmentation.

    model: returns :class:`~humanparse.models.ModelOutput` for normalised (B, 3, h, w) input:
        parsing logits, joint heatmaps (then ``joint_schema`` is needed), or both.
    scales: letterbox zooms to average (1.0 = the image fitted into ``input_size``).
    flip: also predict the mirrored input and swap its left/right classes back by the schema.
    amp: bfloat16 autocast for the forward pass on CUDA (ignored on CPU).
    joint_schema: the joints of the model's heatmap channels (their flip partners).
    label_schema: the classes of the model's logits (None for a pose-only model).
    to_schema: give labels and probabilities in another label schema (a built-in name, or a
        mapping YAML from ``label_schema``; see :mod:`humanparse.evaluation.cross_schema`);
        :attr:`output_schema` is then that schema. Flips still use ``label_schema``.
    mean, std: the input normalisation; the letterbox is filled with the colour of the mean.

    Each call runs the images it is given as one batch per scale (twice the images with
    flip), so callers choose the batch size by how many images they pass.
    """

    def __init__(
        self,
        model: nn.Module,
        label_schema: LabelSchema | None,
        input_size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        *,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        device: str | torch.device = "cpu",
        amp: bool = False,
        joint_schema: JointSchema | None = None,
        to_schema: str | Path | LabelSchema | None = None,
    ) -> None:
        scales = check_scales(scales)
        self.cross = None
        if to_schema is not None:
            if label_schema is None:
                raise ValueError("to_schema maps parsing predictions, and this model predicts joints only")
            from ..evaluation.cross_schema import CrossSchema, resolve_mapping

            self.cross = CrossSchema(resolve_mapping(label_schema, to_schema))
        self.output_schema = self.cross.target if self.cross is not None else label_schema
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.label_schema = label_schema
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.preprocessing = Preprocessing(tuple(mean), tuple(std))  # type: ignore[arg-type]
        self.scales = scales
        self.flip = bool(flip)
        self.amp = bool(amp)
        self.joint_schema = joint_schema
        self.extra_inputs = extra_inputs_of(model)
        fill = self.preprocessing.fill
        self._transforms = [EvalTransform(self.input_size, scale=s, keep_original=False, fill=fill) for s in scales]

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocessing.std

    @classmethod
    def from_saved(
        cls,
        saved: SavedModel,
        *,
        scales: Sequence[float] | None = None,
        flip: bool | None = None,
        device: str | torch.device | None = None,
        amp: bool = False,
        to_schema: str | Path | LabelSchema | None = None,
    ) -> Predictor:
        """A predictor for a loaded model file; scales and flip default to the file's ``test_time``.

        Where ``test_time`` names ``network_scales``, a multi-scale model (JPPNet, SS-NAN) runs on those
        input scales from now on (the saved model is changed in place)."""
        network_scales = saved.test_time.get("network_scales")
        if network_scales is not None:
            if not hasattr(saved.model, "set_scales"):
                raise ValueError(
                    f"the model file asks for network_scales {network_scales}, but model {saved.spec['name']!r} has "
                    "fixed input scales (test it at its own, with test_time.scales for letterbox zooms)"
                )
            saved.model.set_scales(network_scales)
        if device is None:
            first = next(saved.model.parameters(), None)
            device = first.device if first is not None else "cpu"
        return cls(
            saved.model, saved.label_schema, saved.input_size, saved.mean, saved.std,
            scales=tuple(saved.test_time.get("scales", [1.0])) if scales is None else scales,
            flip=bool(saved.test_time.get("flip", False)) if flip is None else flip,
            device=device, amp=amp, joint_schema=saved.joint_schema, to_schema=to_schema,
        )

    # ----------------------------------------------------------------------- internals

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _mirror_input(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """An extra input of the mirrored image: mirrored, its class channels swapped if it has them."""
        if self.extra_inputs[name].class_indexed:
            if self.label_schema is None:
                raise ValueError(f"input {name!r} is class-indexed: mirroring it needs the label schema")
            return flip_logits(x, self.label_schema)
        return x.flip(-1)

    def _network_maps(
        self, batch: torch.Tensor, scale_weights: bool = False, inputs: dict[str, torch.Tensor] | None = None,
        level_scores: bool = False,
    ) -> tuple[torch.Tensor, MapLayout]:
        """:func:`output_maps` of the model for a uint8 (B, 3, h, w) letterboxed batch and its
        letterboxed extra inputs (each with its mirror when flip is on)."""
        x = self.preprocessing.normalize(batch.to(self.device, non_blocking=True))
        extras = {name: t.to(self.device, torch.float32) for name, t in (inputs or {}).items()}
        if self.flip:
            x = torch.cat([x, x.flip(-1)])
            extras = {name: torch.cat([t, self._mirror_input(name, t)]) for name, t in extras.items()}
        with self._autocast():
            output = self.model(x, **extras)
        return output_maps(
            output, self.input_size, self.label_schema, self.joint_schema,
            heatmap_stride_of(self.model, output, self.input_size),
            flip=self.flip, scale_weights=scale_weights, level_scores=level_scores,
        )

    def _view(self, size: tuple[int, int], box: Sequence[float] | None) -> View:
        """The view of an (h, w) image: the whole of it, or the window its box's views see."""
        if box is None:
            return View.whole(affine_matrix(size, self.input_size), size)
        box = tuple(float(v) for v in box)
        return View(affine_matrix(size, self.input_size, box=box), box_window(size, box, self.input_size, self.scales))

    def _image_views(
        self, images: Sequence[np.ndarray], boxes: Sequence[Sequence[float] | None] | None = None,
        scale_weights: bool = False, inputs: Sequence[dict[str, np.ndarray]] | None = None,
        level_scores: bool = False,
    ) -> tuple[list[ImageViews], MapLayout]:
        """Each image's maps (C + K (+ S) channels) at the input size under every scale, and
        their layout: one network batch per scale. Extra inputs are letterboxed with their image
        (or box)."""
        _check_images(images)
        inputs = self._check_inputs(images, inputs)
        boxes = _check_boxes(images, boxes)
        extra = self.extra_inputs if inputs else {}
        specs = {name: MapSpec("continuous", class_indexed=spec.class_indexed) for name, spec in extra.items()}
        views = [ImageViews(self._view(image.shape[:2], box), [], []) for image, box in zip(images, boxes)]
        layout = MapLayout(0)
        for transform in self._transforms:
            warped = [
                transform(Sample(image=image, maps=dict(inputs[i]) if inputs else {}, map_specs=specs), box=boxes[i])
                for i, image in enumerate(images)
            ]
            batch = torch.from_numpy(np.stack([w.image for w in warped])).permute(0, 3, 1, 2)
            extras = {name: torch.from_numpy(np.stack([w.maps[name] for w in warped])) for name in specs}
            maps, layout = self._network_maps(batch, scale_weights, extras, level_scores)
            for image_views, image_maps, w in zip(views, maps, warped):
                image_views.maps.append(image_maps)
                image_views.affines.append(window_affine(w.meta["affine"], image_views.view.window)[0])
        return views, layout

    @torch.inference_mode()
    def _predict_maps(
        self, images: Sequence[np.ndarray], scale_weights: bool = False,
        inputs: Sequence[dict[str, np.ndarray]] | None = None,
    ) -> tuple[list[torch.Tensor], MapLayout]:
        """(C + K (+ S), H, W) averaged maps per image at its original resolution, and their channels."""
        images = list(images)
        if not images:
            return [], MapLayout(0)
        views, layout = self._image_views(images, scale_weights=scale_weights, inputs=inputs)
        out = []
        for view in views:
            (h, w), channels = view.size, int(view.maps[0].shape[0])
            maps = torch.empty((channels, h, w), dtype=torch.float32, device=self.device)
            for first, stop in row_bands(h, w, channels + 1):
                maps[:, first:stop] = view.averaged((first, stop))
            out.append(maps)
        return out, layout

    def _decode(self, views: ImageViews, layout: MapLayout, probabilities: bool) -> DecodedArrays:
        """What :func:`decode_maps` reads from one image's averaged maps, band by band: ids,
        optionally softmax probabilities and the weights over scales, as NumPy arrays over the
        view's window; the joints from the maximum of each heatmap over the bands, refined on
        the rows around it, in the whole image's pixels."""
        (h, w), channels = views.size, int(views.maps[0].shape[0])
        classes, levels_from = layout.classes, channels - sum(layout.levels)
        weights_from = levels_from - layout.scales
        joints = weights_from - classes
        labels = np.empty((h, w), dtype=np.uint8) if classes else None
        probs = np.empty((classes, h, w), dtype=np.float32) if probabilities and classes else None
        weights = np.empty((layout.scales, h, w), dtype=np.float32) if layout.scales else None
        levels = [np.empty((h, w), dtype=np.uint8) for _ in layout.levels] if layout.levels else None
        peak = torch.full((joints,), -torch.inf, device=self.device)
        at = torch.zeros(joints, dtype=torch.long, device=self.device)
        for first, stop in row_bands(h, w, channels + 1):
            band = views.averaged((first, stop))
            if labels is not None:
                labels[first:stop] = class_ids(band[:classes]).to(torch.uint8).cpu().numpy()
            if probs is not None:
                probs[:, first:stop] = torch.softmax(band[:classes], 0).cpu().numpy()
            if weights is not None:
                weights[:, first:stop] = band[weights_from:levels_from].cpu().numpy()
            if levels is not None:
                start = levels_from
                for level, size in zip(levels, layout.levels):
                    level[first:stop] = class_ids(band[start : start + size]).to(torch.uint8).cpu().numpy()
                    start += size
            if joints:
                value, index = band[classes:weights_from].reshape(joints, -1).max(-1)
                better = value > peak  # strictly: the first maximum in row-major order wins, as in argmax
                peak = torch.where(better, value, peak)
                at = torch.where(better, index + first * w, at)
        decoded = None
        if joints:
            # The maps were upsampled from cells of stride / zoom original pixels (zoom: the
            # view's letterbox of scale 1); the refinement reads the peak's neighbours that far away.
            spacing = layout.heatmap_stride / views.view.zoom
            x0, y0 = views.view.window[:2]
            found = []
            for k, y in enumerate((at // w).tolist()):
                # The refinement reads the heatmap up to ``spacing`` rows (and one more) either
                # side of the peak: those rows alone give the same joint as the whole map.
                first, stop = max(0, math.floor(y - spacing)), min(h, math.floor(y + spacing) + 2)
                window = views.averaged((first, stop), slice(classes + k, classes + k + 1))
                joint = decode_heatmaps(window[None], stride=1, spacing=spacing)[0, 0]
                found.append(joint + torch.tensor([x0, y0 + first, 0.0], device=joint.device))
            decoded = torch.stack(found).cpu().numpy()
        return DecodedArrays(labels, probs, decoded, weights, levels)

    def _check_inputs(
        self, images: Sequence[np.ndarray], inputs: Sequence[dict[str, np.ndarray]] | None
    ) -> list[dict[str, np.ndarray]] | None:
        """Each image's extra inputs, checked against what the model declares (None: it takes none)."""
        if not self.extra_inputs:
            if inputs:
                raise ValueError("this model takes no inputs beyond the image")
            return None
        if inputs is None or len(inputs) != len(images):
            raise ValueError(
                f"the model takes {sorted(self.extra_inputs)} beside each image: give one mapping per image as inputs="
            )
        checked = []
        for i, (image, given) in enumerate(zip(images, inputs)):
            missing = sorted(set(self.extra_inputs) - set(given))
            if missing:
                raise ValueError(f"image {i}: inputs lack {missing}")
            entry = {}
            for name, spec in self.extra_inputs.items():
                array = np.asarray(given[name], dtype=np.float32)
                if array.shape != (spec.channels, *image.shape[:2]):
                    raise ValueError(
                        f"image {i}: input {name!r} must be ({spec.channels}, H, W) over the image's "
                        f"{image.shape[:2]} pixels, got {array.shape}"
                    )
                entry[name] = array
            checked.append(entry)
        return checked

    # ----------------------------------------------------------------------- public

    def predict_logits(
        self, images: Sequence[np.ndarray], inputs: Sequence[dict[str, np.ndarray]] | None = None
    ) -> list[torch.Tensor]:
        """(C, H, W) float32 logits per (H, W, 3) uint8 RGB image, at its original resolution,
        on the predictor's device; averaged over scales (and flip)."""
        maps, layout = self._predict_maps(images, inputs=inputs)
        num_classes = layout.classes
        if maps and num_classes == 0:
            raise ValueError("this model predicts joints only, no parsing logits")
        return [m[:num_classes] for m in maps]

    @torch.inference_mode()
    def predict(
        self, images: Sequence[np.ndarray], probabilities: bool = False, scale_weights: bool = False,
        inputs: Sequence[dict[str, np.ndarray]] | None = None,
        boxes: Sequence[Sequence[float] | None] | None = None,
        level_scores: bool = False,
    ) -> list[Prediction]:
        """Class ids (argmax of the averaged logits), optionally softmax probabilities, the
        joints decoded from the averaged heatmaps of a model that predicts them, and optionally
        the averaged per-pixel weights over a multi-scale model's input scales (an error for a
        model without them). ``inputs``: for a model with extra inputs (``ExtraInput``), one
        mapping per image of name -> (channels, H, W) float array over the image's pixels.
        ``boxes``: one (x0, y0, x1, y1) box (outer pixel edges) or None per image; a box is
        letterboxed instead of its whole image (a top-down view of one person), its joints come
        in the image's pixels and its maps over :attr:`Prediction.window`. ``level_scores``: also
        each hierarchy level's coarse class ids (:attr:`Prediction.levels`; HIPN's, an error for
        a model without level scores)."""
        images = list(images)
        if not images:
            return []
        views, layout = self._image_views(images, boxes, scale_weights, inputs, level_scores)
        out = []
        for image_views in views:
            decoded = self._decode(image_views, layout, probabilities)
            labels, probs = decoded.labels, decoded.probabilities
            if self.cross is not None:
                labels = None if labels is None else self.cross.labels(labels)
                probs = None if probs is None else self.cross.probabilities(probs)
            out.append(Prediction(
                labels=labels, probabilities=probs, joints=decoded.joints, scale_weights=decoded.scale_weights,
                levels=decoded.levels, window=image_views.view.window,
            ))
        return out

    def predict_labels(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(H, W) uint8 class ids per image, at its original resolution."""
        return [p.labels for p in self.predict(images)]  # type: ignore[misc]

    def predict_probabilities(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(C, H, W) float32 softmax probabilities per image, at its original resolution."""
        return [p.probabilities for p in self.predict(images, probabilities=True)]  # type: ignore[misc]

    @torch.inference_mode()
    def predict_joint_candidates(
        self, images: Sequence[np.ndarray], threshold: float = 0.1, radius: int | None = None,
        max_per_joint: int | None = None,
    ) -> list[list[np.ndarray]]:
        """Candidates for every person's joints: per image, per joint of the schema, a (N, 3)
        float32 array (x, y, score) of the local maxima of its averaged heatmap in original
        pixels, strongest first (heatmap non-maximum suppression, for several people in one
        photo; grouping them into people is left to the caller).

        A peak is the largest value within ``radius`` original pixels (default: one heatmap
        cell at the view's zoom) and at least ``threshold``, refined to sub-pixel accuracy as
        the single-person joints are; ``max_per_joint`` caps each list.
        """
        images = list(images)
        if not images:
            return []
        if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number, not {threshold!r}")
        for name, value in (("radius", radius), ("max_per_joint", max_per_joint)):
            if value is not None:
                positive_int(name, value)
        views, layout = self._image_views(images)
        channels = int(views[0].maps[0].shape[0])
        joints = slice(layout.classes, channels - layout.tail)
        if joints.stop <= joints.start:
            raise ValueError("this model predicts no joints")
        out = []
        for image_views in views:
            h, w = image_views.size
            # Maps upsampled from cells ``spacing`` pixels apart; a peak is refined from its neighbours that far away.
            spacing = layout.heatmap_stride / image_views.view.zoom
            r = radius if radius is not None else max(1, math.ceil(spacing))
            found: list[list[torch.Tensor]] = [[] for _ in range(joints.stop - joints.start)]
            for first, stop in row_bands(h, w, channels + 1):
                # ``r`` rows of context either side, so a band's edge rows are judged as in the whole map.
                lo, hi = max(0, first - r), min(h, stop + r)
                band = image_views.averaged((lo, hi), joints)
                for k, peaks in enumerate(heatmap_peaks(band, r, threshold, (first - lo, stop - lo), spacing)):
                    found[k].append(peaks + torch.tensor([0.0, float(lo), 0.0], device=peaks.device))
            x0, y0 = image_views.view.window[:2]
            per_joint = []
            for parts in found:
                peaks = torch.cat(parts)
                peaks = peaks[torch.argsort(peaks[:, 2], descending=True, stable=True)]
                # A peak on a band's edge may face an equal one across it: keep one of them.
                peaks = suppress_close(peaks, float(r), max_per_joint)
                shift = torch.tensor([float(x0), float(y0), 0.0], device=peaks.device)
                per_joint.append((peaks + shift).cpu().numpy().astype(np.float32))
            out.append(per_joint)
        return out

    def predict_joints(
        self, images: Sequence[np.ndarray], boxes: Sequence[Sequence[float] | None] | None = None
    ) -> list[np.ndarray]:
        """(K, 3) float32 joints (x, y, score) per image, in its original pixels; with ``boxes``,
        of the person in each image's box (see :meth:`predict`)."""
        predictions = self.predict(images, boxes=boxes)
        if predictions and predictions[0].joints is None:
            raise ValueError("this model predicts no joints")
        return [p.joints for p in predictions]  # type: ignore[misc]


# Their earlier names.
ParsingPredictor = Predictor
ParsingPrediction = Prediction

__all__ = [
    "BAND_VALUES", "DecodedMaps", "MapLayout", "ParsingPrediction", "ParsingPredictor", "Prediction", "Predictor", "View",
    "box_window", "check_output", "class_ids", "decode_maps", "heatmap_stride_of", "normalize", "original_views",
    "output_maps", "row_bands", "window_affine",
]
