"""``humanparse predict``: parse images, folders of images and videos with a saved model.

Per image, in the output folder: ``<name>.png`` (class ids, with the schema's palette),
``<name>_overlay.jpg`` (the original beside the colour overlay), ``<name>.json`` (size and
pixel area per class) and, when asked for, ``<name>_prob.npy`` ((C, H, W) float16
probabilities) and, for a model with per-pixel weights over its input scales (SS-NAN,
Attention-to-scale), ``<name>_scale_weights.png`` (one colour map per scale, as SS-NAN's
Figure 5; the mean weight of each scale goes into the JSON). Per video:
``<name>_overlay.mp4`` and ``<name>.json``. A model that predicts
joints adds them to each JSON (name, x, y, score), draws its skeleton on the overlays, and
writes ``joints.csv`` for the images in LIP's pose layout; a pose-only model writes no PNG.
Images inside a folder keep their path relative to that folder. An input that cannot be
read (or is over the pixel limit) is reported and skipped, and a video that ends before the
frames it declares is reported after its outputs are written; the exit code is then 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..data.image_io import (
    DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DataError, check_pixel_count, read_image, write_label_png,
)
from ..data.readers.lip import write_lip_pose_csv
from ..data.sample import VISIBLE
from ..errors import HumanparseError, UsageError
from ..io import atomic_file, check_writable_dir, write_atomically, write_json
from .predictor import Prediction, Predictor, row_bands
from ..models import predicts_scale_weights
from ..devices import resolve_device
from .model_file import SavedModel, load_model
from ..schemas import JointSchema, LabelSchema

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
# Weight of the class colour in the overlay (the rest is the original image).
OVERLAY_ALPHA = 0.5
OVERLAY_JPEG_QUALITY = 90
# Values blended at a time for an overlay (16 MiB of float32 a copy).
_OVERLAY_BAND_VALUES = 1 << 22
# Original pixels read into one batch at most: the batch closes before an image that would
# pass it, so large photos go one at a time (the network sees each at its input size anyway;
# what a batch holds at full size is the photos and their outputs).
BATCH_PIXELS = 16_000_000
# The frame rate written when a video container reports none.
_DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class PredictInput:
    """One image or video to predict and the output name (relative, without extension) it gets."""

    path: Path
    name: str
    is_video: bool


def _report(path: str | Path, problem: str) -> None:
    print(f"humanparse predict: {path}: {problem}", file=sys.stderr)


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def collect_inputs(inputs: Sequence[str | Path], out_dir: Path) -> tuple[list[PredictInput], list[tuple[str, str]]]:
    """The images and videos named by ``inputs`` (files, or folders searched recursively in
    sorted order), each with a unique output name, and the (path, problem) of each input that
    cannot be used. Files under ``out_dir`` are skipped so a rerun does not parse its outputs."""
    found: list[tuple[Path, str, bool]] = []
    problems: list[tuple[str, str]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            before = len(found)
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                kind = _kind(file)
                if kind is None or _is_within(file, out_dir):
                    continue
                found.append((file, file.relative_to(path).with_suffix("").as_posix(), kind == "video"))
            if len(found) == before:
                problems.append((str(path), "folder holds no images or videos"))
        elif path.is_file():
            kind = _kind(path)
            if kind is None:
                problems.append(
                    (str(path), f"not an image or video file (known: {', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)})")
                )
                continue
            found.append((path, path.stem, kind == "video"))
        else:
            problems.append((str(path), "does not exist"))
    # Two inputs with the same name (1.jpg and 1.png, or a/1.jpg and b/1.jpg given as files)
    # must not overwrite each other: later ones get a numbered suffix.
    taken: set[str] = set()
    seen: set[Path] = set()
    items = []
    for path, name, is_video in found:
        if path.resolve() in seen:  # named twice (directly and through its folder): predict once
            continue
        seen.add(path.resolve())
        unique, n = name, 1
        while unique.lower() in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique.lower())
        items.append(PredictInput(path, unique, is_video))
    return items, problems


# --------------------------------------------------------------------------- writing


def colour_overlay(image: np.ndarray, labels: np.ndarray, schema: LabelSchema, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """(H, 2W, 3) uint8: the image on the left, the image blended with the class colours on the right."""
    palette = schema.palette_array()
    # Ids outside the schema (255 = ignore) are shown in white, as in the label PNG's palette.
    lut = np.full((256, 3), 255, dtype=np.uint8)
    lut[: len(palette)] = palette
    h, w = labels.shape
    out = np.empty((h, 2 * w, 3), dtype=np.uint8)
    out[:, :w] = image
    # In bands of rows: the float arithmetic over a whole 24-megapixel photo would take ~1.5 GB.
    for first, stop in row_bands(h, w, 3, _OVERLAY_BAND_VALUES):
        colours = lut[labels[first:stop]].astype(np.float32)
        out[first:stop, w:] = np.rint((1 - alpha) * image[first:stop].astype(np.float32) + alpha * colours)
    return out


def draw_skeleton(image: np.ndarray, joints: np.ndarray, schema: JointSchema) -> np.ndarray:
    """A copy of (H, W, 3) uint8 ``image`` with the schema's skeleton drawn through (K, 2+) joints
    (x, y, ...): left limbs in green, right in orange, the rest in white; joints as dots."""
    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    thickness = max(1, round(min(h, w) / 150))
    left = {a for a, _ in schema.flip_pairs}
    right = {b for _, b in schema.flip_pairs}

    def colour(*ids: int) -> tuple[int, int, int]:
        if any(i in left for i in ids):
            return (60, 220, 60)
        if any(i in right for i in ids):
            return (255, 140, 0)
        return (255, 255, 255)

    points = [(int(round(x)), int(round(y))) for x, y in np.asarray(joints, dtype=np.float64)[:, :2]]
    for a, b in schema.skeleton:
        cv2.line(out, points[a], points[b], colour(a, b), thickness, cv2.LINE_AA)
    for i, p in enumerate(points):
        cv2.circle(out, p, thickness + 1, colour(i), -1, cv2.LINE_AA)
    return out


def prediction_overlay(
    image: np.ndarray, labels: np.ndarray | None, joints: np.ndarray | None,
    schema: LabelSchema, joint_schema: JointSchema | None,
) -> np.ndarray:
    """(H, 2W, 3) uint8: the image, and beside it the class colours and/or the skeleton."""
    overlay = colour_overlay(image, labels, schema) if labels is not None else np.concatenate([image, image], axis=1)
    if joints is not None and joint_schema is not None:
        w = image.shape[1]
        overlay[:, w:] = draw_skeleton(overlay[:, w:], joints, joint_schema)
    return overlay


def scale_weight_panels(weights: np.ndarray, scales: Sequence[float]) -> np.ndarray:
    """(H, S * W, 3) uint8 RGB: each scale's (H, W) weights in [0, 1] as a colour map (JET:
    blue 0 to red 1), side by side in the order of ``scales``, each titled with its scale
    (or its index, where ``scales`` does not name them all)."""
    names = [f"scale {s:g}" for s in scales] if len(scales) == len(weights) else [f"#{i}" for i in range(len(weights))]
    panels = []
    for weight, text in zip(weights, names):
        grey = np.rint(np.clip(weight, 0.0, 1.0) * 255).astype(np.uint8)
        panel = cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
        size = max(0.4, min(panel.shape[:2]) / 400)
        origin = (max(2, round(6 * size)), max(12, round(24 * size)))
        thick = max(1, round(2 * size))
        cv2.putText(panel, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(panel, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), thick, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def joints_json(joints: np.ndarray, schema: JointSchema) -> list[dict[str, Any]]:
    """Each joint as {"name", "x", "y", "score"} (x = column, y = row in original pixels)."""
    return [
        {"name": name, "x": round(float(x), 2), "y": round(float(y), 2), "score": round(float(score), 4)}
        for name, (x, y, score) in zip(schema.joints, np.asarray(joints, dtype=np.float64))
    ]


def class_areas(labels: np.ndarray, schema: LabelSchema) -> dict[str, int]:
    """Pixel count of each class present in ``labels``, by class name."""
    counts = np.bincount(labels.ravel(), minlength=schema.num_classes)
    return {schema.classes[i]: int(counts[i]) for i in range(schema.num_classes) if counts[i]}


def _write_image_outputs(
    item: PredictInput, image: np.ndarray, pred: Prediction, out_dir: Path,
    schema: LabelSchema, joint_schema: JointSchema | None, context: dict[str, Any],
    scales: Sequence[float] = (),
) -> None:
    """Write one image's outputs; ``scales`` names the channels of ``pred.scale_weights``. Each is
    renamed into place whole but not flushed to disk one by one: a flush per file would cost
    more than predicting it, and a prediction can be made again."""
    base = out_dir / item.name
    base.parent.mkdir(parents=True, exist_ok=True)
    labels = pred.labels
    if labels is not None:
        write_atomically(
            base.with_name(base.name + ".png"), lambda p: write_label_png(p, labels, schema.flat_palette()), durable=False
        )
    overlay = prediction_overlay(image, labels, pred.joints, schema, joint_schema)
    write_atomically(
        base.with_name(base.name + "_overlay.jpg"),
        lambda p: Image.fromarray(overlay).save(p, quality=OVERLAY_JPEG_QUALITY),
        durable=False,
    )
    if pred.probabilities is not None:
        probabilities = pred.probabilities
        write_atomically(
            base.with_name(base.name + "_prob.npy"), lambda p: np.save(p, probabilities.astype(np.float16)), durable=False
        )
    summary: dict[str, Any] = {"image": str(item.path), "size": [int(image.shape[0]), int(image.shape[1])]}
    if pred.scale_weights is not None:
        panels = scale_weight_panels(pred.scale_weights, scales)
        write_atomically(
            base.with_name(base.name + "_scale_weights.png"), lambda p: Image.fromarray(panels).save(p), durable=False
        )
        summary["scale_weights"] = {
            "scales": [float(s) for s in scales] if len(scales) == len(pred.scale_weights) else None,
            "mean": [round(float(w.mean()), 4) for w in pred.scale_weights],
        }
    if labels is not None:
        summary.update(classes=class_areas(labels, schema), schema=schema.name)
    if pred.joints is not None and joint_schema is not None:
        summary.update(joints=joints_json(pred.joints, joint_schema), joint_schema=joint_schema.name)
    write_json(base.with_name(base.name + ".json"), {**summary, **context}, allow_nan=True, durable=False)


# --------------------------------------------------------------------------- images


def _read_batches(
    items: Sequence[PredictInput], batch_size: int, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Iterator[list[tuple[PredictInput, np.ndarray | DataError]]]:
    """Batches of at most ``batch_size`` images and :data:`BATCH_PIXELS` pixels (an image over
    that goes alone), each image read or the error that stopped it."""
    batch: list[tuple[PredictInput, np.ndarray | DataError]] = []
    pixels = 0
    for item in items:
        entry: np.ndarray | DataError
        try:
            entry = read_image(item.path, max_pixels=max_pixels)
        except DataError as e:
            entry = e
        size = entry.shape[0] * entry.shape[1] if isinstance(entry, np.ndarray) else 0
        if batch and (len(batch) == batch_size or pixels + size > BATCH_PIXELS):
            yield batch
            batch, pixels = [], 0
        batch.append((item, entry))
        pixels += size
    if batch:
        yield batch


def _predict_images(
    items: Sequence[PredictInput], predictor: Predictor, out_dir: Path, batch_size: int,
    probabilities: bool, context: dict[str, Any], progress: bool, scale_weights: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> int:
    """Predict and write every image (and, for a model that predicts joints, ``joints.csv`` in
    LIP's pose layout for all of them); returns how many could not be read."""
    failures = 0
    rows: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(items), desc="predicting", unit="img", disable=None if progress else True)
    for batch in _read_batches(items, batch_size, max_pixels):
        good = [(item, image) for item, image in batch if isinstance(image, np.ndarray)]
        for item, error in batch:
            if isinstance(error, DataError):
                _report(item.path, error.problem)
                failures += 1
        predictions = predictor.predict(
            [image for _, image in good], probabilities=probabilities, scale_weights=scale_weights
        )
        scales = tuple(getattr(predictor.model, "scales", ())) if scale_weights else ()
        for (item, image), pred in zip(good, predictions):
            _write_image_outputs(
                item, image, pred, out_dir, predictor.output_schema, predictor.joint_schema, context, scales
            )
            if pred.joints is not None:
                # Predicted joints carry no visibility: written as visible, LIP's "0".
                rows[item.name + item.path.suffix] = np.column_stack(
                    [pred.joints[:, :2], np.full(len(pred.joints), VISIBLE, dtype=np.float32)]
                )
        bar.update(len(batch))
    bar.close()
    if rows:
        write_atomically(out_dir / "joints.csv", lambda p: write_lip_pose_csv(p, rows))
    return failures


# --------------------------------------------------------------------------- videos


def _frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _frame_batches(frames: Iterator[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _predict_video(
    item: PredictInput, predictor: Predictor, out_dir: Path, batch_size: int,
    context: dict[str, Any], progress: bool, max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> bool:
    """Predict every frame, writing the overlay video and a summary; False if it cannot be read,
    or if it ends before the frames its container declares (what was read is still written)."""
    capture = cv2.VideoCapture(str(item.path))
    if not capture.isOpened():
        capture.release()
        _report(item.path, "unreadable video: OpenCV cannot open it")
        return False
    try:
        height, width = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        check_pixel_count(item.path, height, width, max_pixels, "video frame")
    except DataError as e:
        capture.release()
        _report(e.path, e.problem)
        return False
    schema = predictor.output_schema
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else _DEFAULT_FPS
    total = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) or None  # streams may not know
    video_path = out_dir / f"{item.name}_overlay.mp4"
    size: tuple[int, int] | None = None
    totals = np.zeros(schema.num_classes, dtype=np.int64)
    per_frame: list[dict[str, Any]] = []
    bar = tqdm(total=total, desc=item.path.name, unit="frame", disable=None if progress else True)
    try:
        with atomic_file(video_path) as tmp:
            writer: cv2.VideoWriter | None = None
            try:
                for frames in _frame_batches(_frames(capture), batch_size):
                    for frame, pred in zip(frames, predictor.predict(frames)):
                        if size is None:
                            size = (frame.shape[0], frame.shape[1])
                            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (2 * size[1], size[0]))
                            if not writer.isOpened():
                                raise DataError(video_path, "OpenCV cannot write an mp4 video here")
                        if (frame.shape[0], frame.shape[1]) != size:
                            raise DataError(item.path, f"frame size changes from {size} to {frame.shape[:2]} mid-video")
                        overlay = prediction_overlay(frame, pred.labels, pred.joints, schema, predictor.joint_schema)
                        writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))  # type: ignore[union-attr]
                        frame_summary: dict[str, Any] = {}
                        if pred.labels is not None:
                            totals += np.bincount(pred.labels.ravel(), minlength=schema.num_classes)[: schema.num_classes]
                            frame_summary["classes"] = class_areas(pred.labels, schema)
                        if pred.joints is not None and predictor.joint_schema is not None:
                            frame_summary["joints"] = joints_json(pred.joints, predictor.joint_schema)
                        per_frame.append(frame_summary)
                    bar.update(len(frames))
            finally:
                if writer is not None:
                    writer.release()
            if size is None:
                raise DataError(item.path, "unreadable video: no frame could be decoded")
    except DataError as e:
        _report(e.path, e.problem)
        return False
    finally:
        bar.close()
        capture.release()
    cut_short = total is not None and len(per_frame) < total
    write_json(
        out_dir / f"{item.name}.json",
        {
            "video": str(item.path),
            "size": [size[0], size[1]],
            "frames": len(per_frame),
            **({"frames_declared": total} if cut_short else {}),
            "fps": fps,
            "classes": {schema.classes[i]: int(n) for i, n in enumerate(totals) if n},
            "per_frame": per_frame,
            "schema": schema.name,
            **context,
        },
        allow_nan=True,
    )
    if cut_short:
        _report(item.path, f"video cut short: {len(per_frame)} of the {total} frames it declares could be read "
                           "(the outputs hold those)")
        return False
    return True


# --------------------------------------------------------------------------- entry point


def run_predict(
    model_path: str | Path,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    device: str = "cpu",
    batch_size: int = 4,
    scales: Sequence[float] | None = None,
    flip: bool | None = None,
    save_probabilities: bool = False,
    *,
    save_scale_weights: bool = False,
    amp: bool = False,
    progress: bool = True,
    to_schema: str | Path | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> int:
    """Predict every image and video in ``inputs`` into ``out_dir``; returns the exit code:
    0 when everything was predicted, 1 when some input could not be read (each is passed to
    ``report(path, problem)`` and skipped); a bad device or option raises :class:`UsageError`.

    ``to_schema`` writes labels and probabilities in another label schema (a built-in name or
    a mapping YAML; see :mod:`humanparse.evaluation.cross_schema`). ``scales`` and ``flip``
    default to the model file's ``test_time``; ``amp`` runs the model
    in bfloat16 on CUDA. Probabilities and scale-weight maps are written for images only (a
    video's would be huge); asking for scale weights from a model without them is an error.
    An image or video frame over ``max_pixels`` (None: no limit) is refused from its header
    before it is decoded, and a video that ends before the frames it declares is reported
    (its outputs hold what was read); each counts as an input that could not be read.
    """
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch_size}")
    check_writable_dir(out_dir, "--out")
    resolve_device(device)
    saved: SavedModel = load_model(model_path, device=device)
    if save_scale_weights and not predicts_scale_weights(saved.model):
        raise UsageError(
            f"model {saved.spec.get('name')!r} has no per-pixel weights over input "
            "scales (SS-NAN with neural aggregation and Attention-to-scale do)"
        )
    try:
        predictor = Predictor.from_saved(saved, scales=scales, flip=flip, device=device, amp=amp, to_schema=to_schema)
    except ValueError as e:  # bad --scales or --to-schema
        if isinstance(e, HumanparseError):
            raise
        raise UsageError(str(e)) from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items, problems = collect_inputs(inputs, out)
    for path, problem in problems:
        _report(path, problem)
    if not items and not problems:
        _report("(inputs)", "no images or videos given")
        return 1
    context = {"model": str(model_path), "test_time": {"scales": list(predictor.scales), "flip": predictor.flip}}
    failures = len(problems)
    images = [i for i in items if not i.is_video]
    if images:
        failures += _predict_images(
            images, predictor, out, batch_size, save_probabilities, context, progress, save_scale_weights, max_pixels
        )
    for item in (i for i in items if i.is_video):
        if not _predict_video(item, predictor, out, batch_size, context, progress, max_pixels):
            failures += 1
    return 1 if failures else 0


__all__ = [
    "VIDEO_EXTENSIONS", "PredictInput", "class_areas", "collect_inputs", "colour_overlay", "draw_skeleton", "joints_json",
    "prediction_overlay", "run_predict", "scale_weight_panels",
]
