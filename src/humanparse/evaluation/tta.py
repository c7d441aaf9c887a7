"""Test-time augmentation: predict parsing and joints at each image's original resolution.

For every test scale the images are letterboxed to the network's input size (the scale
zooms on top of the fit), run through the model as one batch, the logits and joint heatmaps
upsampled to the input size, optionally averaged with the prediction for the mirrored input
(its left/right classes and joints swapped back by the schemas, never by hard-coded
indices), and warped back onto the original pixels. The scales are then averaged per
original pixel over the views that see that pixel (a zoom above 1 crops the image's edges
away). Parsing is the argmax of the averaged logits; each joint is the refined peak of its
averaged heatmap (see :func:`humanparse.data.heatmaps.decode_heatmaps`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.heatmaps import decode_heatmaps
from ..data.sample import Sample
from ..data.transforms import EvalTransform, flip_heatmaps, flip_logits, warp_back
from ..models.output import ModelOutput
from ..models.saved import IMAGENET_MEAN, IMAGENET_STD, PIXEL_SCALE, resolve_device
from ..schemas import JointSchema, LabelSchema

if TYPE_CHECKING:
    from ..models.saved import SavedModel


def normalize(
    images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(B, 3, H, W) images on 0..255 (uint8 or float) -> float32 ``(x / 255 - mean) / std``,
    on the images' device."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) images, got shape {tuple(images.shape)}")
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.float() / PIXEL_SCALE - m) / s


def class_ids(scores: torch.Tensor) -> torch.Tensor:
    """(C, H, W) scores -> (H, W) int64 ids of the highest score (the first on ties), as
    ``argmax(0)``; ``max(0)`` reduces over the leading axis about 4x faster on a CPU."""
    return scores.max(0).indices


@dataclass
class ParsingPrediction:
    """One image's prediction at its original resolution: (H, W) uint8 class ids and, when
    asked for, (C, H, W) float32 probabilities (None for a pose-only model); for a model that
    predicts joints, (K, 3) float32 joints (x, y, peak score) in the schema's order; when asked
    for, a multi-scale model's (S, H, W) float32 per-pixel weights over its input scales."""

    labels: np.ndarray | None
    probabilities: np.ndarray | None = None
    joints: np.ndarray | None = None
    scale_weights: np.ndarray | None = None


class Channels(NamedTuple):
    """How many of the predictor's stacked maps are parsing logits (first) and weights over
    input scales (last); joint heatmaps are the ones between."""

    classes: int
    scales: int = 0


def _check_images(images: Sequence[np.ndarray]) -> None:
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            shape = getattr(image, "shape", None)
            raise ValueError(f"image {i}: expected an (H, W, 3) uint8 RGB array, got {shape} {getattr(image, 'dtype', type(image))}")


class ParsingPredictor:
    """Parsing logits and joint heatmaps with multi-scale and flip test-time augmentation.

    model: returns :class:`~humanparse.models.ModelOutput` for normalised (B, 3, h, w) input:
        parsing logits, joint heatmaps (then ``joint_schema`` is needed), or both.
    scales: letterbox zooms to average (1.0 = the image fitted into ``input_size``).
    flip: also predict the mirrored input and swap its left/right classes back by the schema.
    amp: bfloat16 autocast for the forward pass on CUDA (ignored on CPU).
    joint_schema: the joints of the model's heatmap channels (their flip partners).

    Each call runs the images it is given as one batch per scale (twice the images with
    flip), so callers choose the batch size by how many images they pass.
    """

    def __init__(
        self,
        model: nn.Module,
        label_schema: LabelSchema,
        input_size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        *,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        device: str | torch.device = "cpu",
        amp: bool = False,
        joint_schema: JointSchema | None = None,
    ) -> None:
        scales = tuple(float(s) for s in scales)
        if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of positive numbers, not {scales!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.label_schema = label_schema
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.scales = scales
        self.flip = bool(flip)
        self.amp = bool(amp)
        self.joint_schema = joint_schema
        self.heatmap_stride = 1  # the model's, once seen: decoding refines over its cells
        self._transforms = [EvalTransform(self.input_size, scale=s, keep_original=False) for s in scales]

    @classmethod
    def from_saved(
        cls,
        saved: SavedModel,
        *,
        scales: Sequence[float] | None = None,
        flip: bool | None = None,
        device: str | torch.device | None = None,
        amp: bool = False,
    ) -> ParsingPredictor:
        """A predictor for a loaded model file; scales and flip default to the file's ``test_time``.

        Where ``test_time`` names ``network_scales``, a multi-scale model (JPPNet, SS-NAN) runs on those
        input scales from now on (the saved model is changed in place)."""
        network_scales = saved.test_time.get("network_scales")
        if network_scales is not None and hasattr(saved.model, "set_scales"):
            saved.model.set_scales(network_scales)
        if device is None:
            first = next(saved.model.parameters(), None)
            device = first.device if first is not None else "cpu"
        return cls(
            saved.model, saved.label_schema, saved.input_size, saved.mean, saved.std,
            scales=tuple(saved.test_time.get("scales", [1.0])) if scales is None else scales,
            flip=bool(saved.test_time.get("flip", False)) if flip is None else flip,
            device=device, amp=amp, joint_schema=saved.joint_schema,
        )

    # ----------------------------------------------------------------------- internals

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _upsample(self, maps: torch.Tensor) -> torch.Tensor:
        maps = maps.float()
        if tuple(maps.shape[-2:]) != self.input_size:
            maps = F.interpolate(maps, size=self.input_size, mode="bilinear", align_corners=False)
        return maps

    def _heatmap_stride(self, heatmaps: torch.Tensor) -> int:
        model = getattr(self.model, "_orig_mod", self.model)
        stride = getattr(model, "output_stride", None)
        return int(stride) if stride else max(1, round(self.input_size[0] / heatmaps.shape[-2]))

    def _upsample_heatmaps(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Heatmaps at the input size, cell j on input pixel s * j + (s - 1) / 2 as in training
        (upsampling to exactly s times the map, then cropping, keeps that where the input size
        is not a multiple of the stride)."""
        stride = self._heatmap_stride(heatmaps)
        self.heatmap_stride = stride
        h, w = heatmaps.shape[-2:]
        if stride * h < self.input_size[0] or stride * w < self.input_size[1]:
            return self._upsample(heatmaps)
        full = F.interpolate(heatmaps.float(), size=(stride * h, stride * w), mode="bilinear", align_corners=False)
        return full[..., : self.input_size[0], : self.input_size[1]]

    def _check_output(self, output: ModelOutput) -> None:
        if output.logits is not None and output.logits.shape[1] != self.label_schema.num_classes:
            raise ValueError(
                f"the model predicts {output.logits.shape[1]} classes but schema {self.label_schema.name!r} "
                f"has {self.label_schema.num_classes}"
            )
        if output.heatmaps is not None:
            if self.joint_schema is None:
                raise ValueError("the model predicts joint heatmaps but no joint schema was given")
            if output.heatmaps.shape[1] != self.joint_schema.num_joints:
                raise ValueError(
                    f"the model predicts {output.heatmaps.shape[1]} joints but schema {self.joint_schema.name!r} "
                    f"has {self.joint_schema.num_joints}"
                )
        if output.logits is None and output.heatmaps is None:
            raise ValueError("the model predicts neither parsing logits nor joint heatmaps")

    def _average_mirror(
        self, maps: torch.Tensor, unmirror: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """With flip on, the batch's second half holds the mirrored inputs' maps: ``unmirror``
        them (flip back, swapping left/right channels where the maps have sides) and average
        with the first half. Without flip, the maps as they are."""
        if not self.flip:
            return maps
        plain, mirrored = maps.chunk(2)
        return (plain + unmirror(mirrored)) / 2

    def _network_maps(self, batch: torch.Tensor, scale_weights: bool = False) -> tuple[torch.Tensor, Channels]:
        """(B, C + K (+ S), h, w) float32 parsing logits, joint heatmaps (and, if asked for, the
        model's weights over its S input scales) at the network input size for uint8
        (B, 3, h, w) input, averaged with the flipped input's (left/right swapped back) when
        flip is on; and their :class:`Channels` (C = 0 for a pose-only model)."""
        x = normalize(batch.to(self.device, non_blocking=True), self.mean, self.std)
        if self.flip:
            x = torch.cat([x, x.flip(-1)])
        with self._autocast():
            output = self.model(x)
        self._check_output(output)
        if scale_weights and "scale_weights" not in output.extras:
            raise ValueError(
                "this model computes no per-pixel weights over input scales (SS-NAN and Attention-to-scale do)"
            )
        parts = []
        if output.logits is not None:
            parts.append(self._average_mirror(
                self._upsample(output.logits), lambda m: flip_logits(m, self.label_schema)
            ))
        if output.heatmaps is not None:
            joint_schema = self.joint_schema
            assert joint_schema is not None
            parts.append(self._average_mirror(
                self._upsample_heatmaps(output.heatmaps), lambda m: flip_heatmaps(m, joint_schema)
            ))
        if scale_weights:
            # Weights over input scales have no left/right channels: the mirror is only undone.
            parts.append(self._average_mirror(self._upsample(output.extras["scale_weights"]), lambda m: m.flip(-1)))
        num_classes = parts[0].shape[1] if output.logits is not None else 0
        return torch.cat(parts, dim=1), Channels(num_classes, parts[-1].shape[1] if scale_weights else 0)

    def _scale_views(
        self, images: Sequence[np.ndarray], scale_weights: bool = False
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, Channels]]:
        """For each scale and image: (image index, maps (C + K (+ S), H, W), coverage (1, H, W),
        their channels) at the original resolution."""
        for transform in self._transforms:
            warped = [transform(Sample(image=image)) for image in images]
            batch = torch.from_numpy(np.stack([w.image for w in warped])).permute(0, 3, 1, 2)
            maps, channels = self._network_maps(batch, scale_weights)
            ones = torch.ones_like(maps[:, :1])
            for i, w in enumerate(warped):
                # The letterbox never mirrors, so no channel swap is involved here; the extra
                # channel of ones measures how much of each original pixel this view sees.
                both = warp_back(torch.cat([maps[i], ones[i]]), w.meta["affine"], w.meta["orig_size"])
                yield i, both[:-1], both[-1:], channels

    @torch.inference_mode()
    def _predict_maps(
        self, images: Sequence[np.ndarray], scale_weights: bool = False
    ) -> tuple[list[torch.Tensor], Channels]:
        """(C + K (+ S), H, W) averaged maps per image at its original resolution, and their channels."""
        images = list(images)
        if not images:
            return [], Channels(0)
        _check_images(images)
        sums: list[torch.Tensor | None] = [None] * len(images)
        weights: list[torch.Tensor | None] = [None] * len(images)
        channels = Channels(0)
        for i, maps, coverage, channels in self._scale_views(images, scale_weights):
            # A warped view already carries its coverage (bilinear sampling mixes in zeros from
            # outside the letterbox), so dividing the sum by the summed coverage averages each
            # pixel over the views that see it and undoes that zero padding at the border.
            sums[i] = maps if sums[i] is None else sums[i] + maps
            weights[i] = coverage if weights[i] is None else weights[i] + coverage
        return [s / w.clamp_min(1e-6) for s, w in zip(sums, weights)], channels  # type: ignore[operator, union-attr]

    # ----------------------------------------------------------------------- public

    def predict_logits(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """(C, H, W) float32 logits per (H, W, 3) uint8 RGB image, at its original resolution,
        on the predictor's device; averaged over scales (and flip)."""
        maps, channels = self._predict_maps(images)
        num_classes = channels.classes
        if maps and num_classes == 0:
            raise ValueError("this model predicts joints only, no parsing logits")
        return [m[:num_classes] for m in maps]

    @torch.inference_mode()
    def predict(
        self, images: Sequence[np.ndarray], probabilities: bool = False, scale_weights: bool = False
    ) -> list[ParsingPrediction]:
        """Class ids (argmax of the averaged logits), optionally softmax probabilities, the
        joints decoded from the averaged heatmaps of a model that predicts them, and optionally
        the averaged per-pixel weights over a multi-scale model's input scales (an error for a
        model without them)."""
        maps, channels = self._predict_maps(images, scale_weights)
        num_classes, num_scales = channels
        out = []
        for m in maps:
            labels = probs = joints = weights = None
            if num_scales:
                weights = m[-num_scales:].cpu().numpy()
                m = m[:-num_scales]
            if num_classes:
                logits = m[:num_classes]
                labels = class_ids(logits).to(torch.uint8).cpu().numpy()
                probs = torch.softmax(logits, 0).cpu().numpy() if probabilities else None
            if m.shape[0] > num_classes:
                # The maps were upsampled from cells of stride / zoom original pixels (zoom: the
                # letterbox of scale 1); the refinement reads the peak's neighbours that far away.
                zoom = min(self.input_size[0] / m.shape[-2], self.input_size[1] / m.shape[-1])
                spacing = self.heatmap_stride / zoom
                joints = decode_heatmaps(m[None, num_classes:], stride=1, spacing=spacing)[0].cpu().numpy()
            out.append(ParsingPrediction(labels=labels, probabilities=probs, joints=joints, scale_weights=weights))
        return out

    def predict_labels(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(H, W) uint8 class ids per image, at its original resolution."""
        return [p.labels for p in self.predict(images)]  # type: ignore[misc]

    def predict_probabilities(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(C, H, W) float32 softmax probabilities per image, at its original resolution."""
        return [p.probabilities for p in self.predict(images, probabilities=True)]  # type: ignore[misc]

    def predict_joints(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(K, 3) float32 joints (x, y, score) per image, in its original pixels."""
        predictions = self.predict(images)
        if predictions and predictions[0].joints is None:
            raise ValueError("this model predicts no joints")
        return [p.joints for p in predictions]  # type: ignore[misc]


__all__ = ["ParsingPrediction", "ParsingPredictor", "class_ids", "normalize"]
