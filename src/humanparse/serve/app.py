"""The HTTP API and the page (``humanparse serve``), on FastAPI.

Endpoints (the OpenAPI schema is at ``/v1/openapi.json``):

- ``GET /``: the page (one HTML file, no external assets).
- ``GET /v1/health``: ``{"status": "ok", ...}`` with each model's waiting requests.
- ``GET /v1/models``: the served models, their classes (id, name, colour) and joints.
- ``POST /v1/parse``: one image, as the raw body (``Content-Type: image/...`` or
  ``application/octet-stream``) or as the ``image`` field of a ``multipart/form-data`` upload
  -> JSON: the image's size, the classes present with their pixel areas and boxes, the joints
  where the model predicts them, and the label map as a base64 palette PNG (``label_png``;
  ``?label_png=false`` leaves it out).
- ``POST /v1/parse/label.png``: the same upload -> the label map itself (``image/png``,
  pixel values = class ids, palette = the classes' colours).

``?model=NAME`` chooses a served model (default: the first). Errors are JSON
``{"detail": "..."}``: 400 no image, 404 unknown model, 413 over the upload or pixel limit,
415 an unsupported content type, 422 bytes that are not a readable image (not an image,
truncated, malformed), 503 with ``Retry-After`` when the model's queue is full. Nothing in a
request names a file: the models are the ones loaded at start.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np

from ..data.image_io import PixelLimitError, decode_image, write_label_png
from ..errors import DataError
from ..inference.model_file import SavedModel
from ..inference.predict import class_areas, joints_json
from ..inference.predictor import Prediction, Predictor
from .batching import MicroBatcher, QueueFull

try:
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser
except ImportError as e:  # pragma: no cover - the serve extra is missing
    raise ImportError("humanparse serve needs the serve extra: pip install 'humanparse[serve]'") from e

API = "/v1"
RETRY_AFTER_S = 1
_IMAGE_TYPES = ("image/", "application/octet-stream")


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of a server.

    max_upload_bytes: the largest request body accepted (413 beyond).
    max_pixels: the largest image accepted, from its header, before it is decoded (413 beyond).
    max_batch: images in one forward pass at most (1: no batching).
    max_wait_ms: how long the first request of a batch waits for others.
    max_queue: requests waiting per model at most (503 with Retry-After beyond).
    """

    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_batch: int = 8
    max_wait_ms: float = 10.0
    max_queue: int = 32

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_batch", "max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {self.max_wait_ms}")


class ServedModel:
    """One loaded model: its predictor and the batcher that feeds it."""

    def __init__(self, name: str, saved: SavedModel, predictor: Predictor, settings: ServeSettings) -> None:
        self.name, self.saved, self.predictor = name, saved, predictor
        self.batcher: MicroBatcher[np.ndarray, Prediction] = MicroBatcher(
            predictor.predict, settings.max_batch, settings.max_wait_ms / 1000, settings.max_queue
        )

    def describe(self) -> dict[str, Any]:
        schema, joints = self.predictor.output_schema, self.predictor.joint_schema
        return {
            "name": self.name,
            "model": self.saved.spec.get("name"),
            "input_size": list(self.predictor.input_size),
            "schema": None if schema is None else {
                "name": schema.name,
                "classes": [{"id": i, "name": n, "colour": [int(v) for v in c]}
                            for i, (n, c) in enumerate(zip(schema.classes, schema.palette_array()))],
            },
            "joints": None if joints is None else {
                "name": joints.name, "joints": list(joints.joints), "skeleton": [list(e) for e in joints.skeleton],
            },
            "validation": self.saved.info.get("validation"),
        }


def class_boxes(labels: np.ndarray) -> dict[int, list[int]]:
    """Each class id present -> its box [x0, y0, x1, y1] in outer pixel edges (x1, y1 exclusive)."""
    boxes = {}
    for c in np.unique(labels):
        mask = labels == c
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes[int(c)] = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    return boxes


def label_png_bytes(labels: np.ndarray, palette: Sequence[int]) -> bytes:
    buffer = io.BytesIO()
    write_label_png(buffer, labels, palette)
    return buffer.getvalue()


def parse_result(served: ServedModel, image: np.ndarray, pred: Prediction, label_png: bool) -> dict[str, Any]:
    """The JSON answer for one image's prediction."""
    schema, joint_schema = served.predictor.output_schema, served.predictor.joint_schema
    h, w = image.shape[:2]
    out: dict[str, Any] = {"model": served.name, "width": w, "height": h, "schema": None, "classes": [],
                           "joints": None, "joint_schema": None}
    if pred.labels is not None and schema is not None:
        areas, boxes, palette = class_areas(pred.labels, schema), class_boxes(pred.labels), schema.palette_array()
        out["schema"] = schema.name
        out["classes"] = [
            {"id": i, "name": schema.classes[i], "colour": [int(v) for v in palette[i]],
             "pixels": areas[schema.classes[i]], "fraction": round(areas[schema.classes[i]] / (h * w), 6),
             "box": boxes[i]}
            for i in sorted(boxes)
        ]
        if label_png:
            out["label_png"] = base64.b64encode(label_png_bytes(pred.labels, schema.flat_palette())).decode("ascii")
    if pred.joints is not None and joint_schema is not None:
        out["joints"], out["joint_schema"] = joints_json(pred.joints, joint_schema), joint_schema.name
    return out


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the upload is {int(declared):,} bytes, over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the upload is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(request: Request, limit: int) -> bytes:
    """The image's bytes: the raw body, or the ``image`` field of a multipart form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        body = await _body(request, limit)

        async def stream() -> AsyncIterator[bytes]:
            yield body

        try:
            form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=8, max_part_size=limit).parse()
        except MultiPartException as e:
            raise HTTPException(400, f"malformed multipart upload: {e.message}") from None
        field = form.get("image")
        if not isinstance(field, UploadFile):
            await form.close()
            raise HTTPException(400, "the multipart upload has no file field named 'image'")
        data = await field.read()
        await form.close()
    elif kind.startswith(_IMAGE_TYPES):
        data = await _body(request, limit)
    else:
        raise HTTPException(
            415, f"send the image as the body (Content-Type image/... or application/octet-stream) or as the "
            f"'image' field of multipart/form-data, not {kind or 'no content type'!r}"
        )
    if not data:
        raise HTTPException(400, "the upload is empty")
    return data


def _decode(data: bytes, max_pixels: int) -> np.ndarray:
    try:
        return decode_image(data, "upload", max_pixels=max_pixels)
    except PixelLimitError as e:
        raise HTTPException(413, e.problem.replace(" (raise it with --max-pixels / max_pixels)", "")) from None
    except DataError as e:
        raise HTTPException(422, e.problem) from None


def create_app(models: Sequence[ServedModel], settings: ServeSettings = ServeSettings()) -> FastAPI:
    """The application serving ``models`` (the first is the default)."""
    if not models:
        raise ValueError("serve at least one model")
    by_name = {m.name: m for m in models}
    if len(by_name) != len(models):
        raise ValueError(f"two served models have one name: {[m.name for m in models]}")
    default = models[0].name
    from starlette.concurrency import run_in_threadpool

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for m in models:
            await m.batcher.start()
        yield
        for m in models:
            await m.batcher.stop()

    app = FastAPI(
        title="humanparse", version="1", lifespan=lifespan, openapi_url=f"{API}/openapi.json",
        docs_url=None, redoc_url=None,  # their pages load scripts from the internet; the schema is enough
        description="Human parsing and joints for one image a request. See docs/serve.md.",
    )
    app.state.models, app.state.settings = by_name, settings

    def chosen(name: str | None) -> ServedModel:
        served = by_name.get(name or default)
        if served is None:
            raise HTTPException(404, f"no served model {name!r}; served: {', '.join(by_name)}")
        return served

    async def predict(request: Request, name: str | None) -> tuple[ServedModel, np.ndarray, Prediction]:
        served = chosen(name)
        data = await _upload(request, settings.max_upload_bytes)
        image = await run_in_threadpool(_decode, data, settings.max_pixels)
        try:
            pred = await served.batcher.submit(image)
        except QueueFull:
            raise HTTPException(
                503, f"model {served.name!r} has {settings.max_queue} requests waiting; try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        return served, image, pred

    upload_body = {"requestBody": {"required": True, "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
    }}}
    errors = {code: {"description": text} for code, text in (
        (400, "no image in the request"), (404, "no served model of that name"),
        (413, "over the upload or pixel limit"), (415, "unsupported content type"),
        (422, "not a readable image (unknown format, truncated, malformed)"),
        (503, "the model's queue is full (see Retry-After)"),
    )}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(files(__package__).joinpath("page.html").read_text(encoding="utf-8"))

    @app.get(f"{API}/health")
    async def health() -> dict[str, Any]:
        """The server answers; each model's waiting requests and batches run so far."""
        return {"status": "ok", "default": default, "models": {
            m.name: {"waiting": m.batcher.waiting, "max_queue": m.batcher.max_queue, "batches": m.batcher.batches,
                     "images": m.batcher.items, "max_batch": m.batcher.max_batch} for m in models}}

    @app.get(f"{API}/models")
    async def list_models() -> dict[str, Any]:
        """The served models with their classes (id, name, colour) and joints (names, skeleton)."""
        return {"default": default, "models": [m.describe() for m in models]}

    @app.post(f"{API}/parse", openapi_extra=upload_body, responses=errors)
    async def parse(
        request: Request, model: str | None = Query(None, description="a served model (default: the first)"),
        label_png: bool = Query(True, description="include the label map as a base64 palette PNG"),
    ) -> JSONResponse:
        """Parse one image: its classes with pixel areas and boxes, joints, and the label map."""
        start = time.perf_counter()
        served, image, pred = await predict(request, model)
        out = await run_in_threadpool(parse_result, served, image, pred, label_png)
        out["milliseconds"] = round(1000 * (time.perf_counter() - start), 1)
        return JSONResponse(out)

    @app.post(f"{API}/parse/label.png", openapi_extra=upload_body, responses={
        **errors, 200: {"content": {"image/png": {}}, "description": "the label map as a palette PNG"}})
    async def parse_label(
        request: Request, model: str | None = Query(None, description="a served model (default: the first)"),
    ) -> Response:
        """Parse one image and answer its label map (pixel values are class ids)."""
        served, _, pred = await predict(request, model)
        schema = served.predictor.output_schema
        if pred.labels is None or schema is None:
            raise HTTPException(404, f"model {served.name!r} predicts joints only; it has no label map")
        png = await run_in_threadpool(label_png_bytes, pred.labels, schema.flat_palette())
        return Response(png, media_type="image/png")

    return app

