"""The self-describing model file: a folder with the weights and everything needed to use them.

Layout of ``MODEL/``::

    model.safetensors   the state dict (safetensors: loading never runs code)
    model.json          {"format": "humanparse-model", "version": 1,
                         "model": spec, "label_schema": {...}, "input_size": [h, w],
                         "normalization": {"mean": [...], "std": [...], "scale": 255},
                         "test_time": {"scales": [...], "flip": bool},
                         "joint_schema": {...} (models that predict joints), ...extra}

The spec is what :func:`humanparse.models.build_model` takes, so a model file can be loaded
without the config that trained it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.image_io import DataError
from ..devices import resolve_device  # its earlier home: importable from here too
from ..errors import ModelFileError, UsageError
from ..io import atomic_folder, local_path
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..schemas import JointSchema, LabelSchema, SchemaError, joint_schema_from_dict, label_schema_from_dict

MODEL_FORMAT = "humanparse-model"
MODEL_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"

# Top-level keys of model.json that describe the model itself; ``extra`` may not replace them.
DESCRIPTION_KEYS = ("format", "version", "model", "label_schema", "joint_schema", "input_size", "normalization")


@dataclass
class SavedModel:
    """A loaded model file: the model (eval mode, on its device) and how to feed it.

    ``info`` is the whole of model.json (including extras such as a training summary).
    ``joint_schema`` is set for models that predict joint heatmaps (one channel per joint).
    """

    model: nn.Module
    spec: dict[str, Any]
    label_schema: LabelSchema | None  # None for a pose-only model trained on pose-only data
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    test_time: dict[str, Any] = field(default_factory=lambda: {"scales": [1.0], "flip": False})
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    joint_schema: JointSchema | None = None

    @property
    def preprocessing(self) -> Preprocessing:
        """How the model's input is normalised (and letterboxed), as its file records it."""
        return Preprocessing(self.mean, self.std)


# --------------------------------------------------------------------------- checks


# The largest network input side a model file may declare: every batch the predictor runs holds
# (classes, height, width) float maps at the input size, so a side of 100000 would ask for
# terabytes; 4096 is well above any parsing or pose network's training size.
MAX_INPUT_SIDE = 4096


def _check_input_size(size: Sequence[int]) -> tuple[int, int]:
    """(height, width) of a network input, or a ValueError that names ``input_size``."""
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"input_size must be (height, width) positive integers, not {size!r}")
    if max(size) > MAX_INPUT_SIDE:
        raise ValueError(f"input_size {list(size)} is over {MAX_INPUT_SIDE} pixels a side: not a network input")
    return int(size[0]), int(size[1])


def _preprocessing(mean: Sequence[float], std: Sequence[float], where: str) -> Preprocessing:
    try:
        return Preprocessing(tuple(mean), tuple(std))  # type: ignore[arg-type]
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def check_test_time(test_time: Any, where: str) -> dict[str, Any]:
    """A valid ``{"scales": [positive floats], "flip": bool}`` mapping (defaults filled in), with
    ``network_scales`` (positive floats) where the model's own input scales change at test time."""
    if not isinstance(test_time, dict):
        raise ValueError(f"{where}: test_time must be a mapping with 'scales' and 'flip', not {test_time!r}")
    unknown = set(test_time) - {"scales", "flip", "network_scales"}
    if unknown:
        raise ValueError(f"{where}: test_time has unknown keys {sorted(unknown)}; allowed: flip, network_scales, scales")

    def positive_list(key: str, default: Any) -> list[float]:
        values = test_time.get(key, default)
        if (
            not isinstance(values, (list, tuple))
            or not values
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in values)
        ):
            raise ValueError(f"{where}: test_time.{key} must be a non-empty list of positive numbers, not {values!r}")
        return [float(v) for v in values]

    flip = test_time.get("flip", False)
    if not isinstance(flip, bool):
        raise ValueError(f"{where}: test_time.flip must be true or false, not {flip!r}")
    checked: dict[str, Any] = {"scales": positive_list("scales", [1.0]), "flip": flip}
    if test_time.get("network_scales") is not None:
        checked["network_scales"] = positive_list("network_scales", None)
    return checked


def _json_default(value: Any) -> Any:
    """Make the usual non-JSON values of a training summary writable."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    raise TypeError(f"model.json: a value of type {type(value).__name__} cannot be written as JSON: {value!r}")


# --------------------------------------------------------------------------- saving


# BatchNorm's running statistics stay float32 in a half-precision file: a variance below
# float16's normal range (6e-5) would lose its digits.
_FULL_PRECISION_SUFFIXES = (".running_mean", ".running_var")


def _weights_for_saving(model: nn.Module, half: bool = False) -> dict[str, torch.Tensor]:
    """The state dict as contiguous CPU tensors that share no memory (safetensors needs both);
    ``half``: float weights as float16 (loading casts them back to the model's dtype)."""
    state: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        if half and t.is_floating_point() and not name.endswith(_FULL_PRECISION_SUFFIXES):
            t = t.to(torch.float16)
        storage = t.untyped_storage().data_ptr()
        if storage in seen_storages:  # tied weights: safetensors refuses shared memory
            t = t.clone()
        seen_storages.add(t.untyped_storage().data_ptr())
        state[name] = t
    return state


def model_folder_problem(target: Path) -> str | None:
    """Why :func:`save_model` would refuse ``target`` (None: it would not): what is there already
    and is not a model folder (an empty folder, or one with a model.json) is never overwritten."""
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or (target / CONFIG_FILE).is_file())):
        return "exists and is not a model folder; not overwriting it"
    return None


def save_model(
    path: str | Path,
    model: nn.Module,
    spec: dict[str, Any],
    label_schema: LabelSchema | None,
    input_size: tuple[int, int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    extra: dict[str, Any] | None = None,
    joint_schema: JointSchema | None = None,
    half: bool = False,
) -> Path:
    """Write the model folder ``path/`` (model.safetensors + model.json); returns ``path``.

    ``half`` stores the float weights as float16 (half the file; BatchNorm's running
    statistics stay float32); they load back into the float32 model.

    ``joint_schema`` is required for a model that predicts joints: it names the heatmap
    channels and their flip partners for prediction.

    ``extra`` adds top-level entries to model.json (a training summary, ``test_time``); it
    cannot replace the entries that describe the model. The folder is written to a temporary
    sibling and renamed into place, so an interrupted save leaves no half-written model; an
    existing model folder at ``path`` is replaced.
    """
    from ..models import MODELS

    target = Path(path)
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"a model spec must be a mapping with a 'name', got {spec!r}")
    if spec["name"] not in MODELS:
        raise ValueError(f"unknown model {spec['name']!r}; known: {', '.join(sorted(MODELS))}")
    if "num_classes" in spec and label_schema is None:
        raise ValueError(f"model {spec['name']!r} parses: give its label_schema")
    if label_schema is not None and spec.get("num_classes", label_schema.num_classes) != label_schema.num_classes:
        raise ValueError(
            f"the spec has {spec['num_classes']} classes but schema {label_schema.name!r} has {label_schema.num_classes}"
        )
    if "num_joints" in spec and joint_schema is None:
        raise ValueError(f"model {spec['name']!r} predicts joints: give its joint_schema")
    if joint_schema is not None and spec.get("num_joints", joint_schema.num_joints) != joint_schema.num_joints:
        raise ValueError(
            f"the spec has {spec['num_joints']} joints but schema {joint_schema.name!r} has {joint_schema.num_joints}"
        )
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(DESCRIPTION_KEYS))
    if clash:
        raise ValueError(f"extra may not replace {clash}: they describe the model itself")
    where = str(target / CONFIG_FILE)
    test_time = check_test_time(extra.pop("test_time", {"scales": [1.0], "flip": False}), where)
    try:
        checked_size = _check_input_size(tuple(input_size))
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    description: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        "model": spec,
        "label_schema": label_schema.to_dict() if label_schema is not None else None,
        "input_size": list(checked_size),
        "normalization": _preprocessing(mean, std, where).to_dict(),
        "test_time": test_time,
        **({"joint_schema": joint_schema.to_dict()} if joint_schema is not None else {}),
        **extra,
    }
    # Serialise before touching the disk, so a bad extra value fails with nothing written.
    text = json.dumps(description, indent=2, default=_json_default, allow_nan=False) + "\n"

    from safetensors.torch import save

    problem = model_folder_problem(target)
    if problem:
        raise FileExistsError(f"{target}: {problem}")
    # Serialised in memory and written by Python, so that a full disk is an OSError (reported
    # as such) rather than a safetensors error.
    weights = save(_weights_for_saving(model, half), metadata={"format": MODEL_FORMAT})
    with atomic_folder(target) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights)
        (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
    return target


# --------------------------------------------------------------------------- loading


def _model_folder(path: str | Path) -> Path:
    p = local_path(path, "model folder", UsageError)
    if p.is_file() and p.name in (CONFIG_FILE, WEIGHTS_FILE):
        return p.parent
    if p.is_dir():
        return p
    if p.exists():
        raise DataError(p, f"not a model folder (expected a folder holding {CONFIG_FILE} and {WEIGHTS_FILE})")
    raise DataError(p, "model folder does not exist")


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The checked content of a model folder's model.json (nothing is built or loaded)."""
    folder = _model_folder(path)
    json_path = folder / CONFIG_FILE
    if not json_path.is_file():
        raise DataError(json_path, f"missing: a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(json_path, f"unreadable model description: {e}") from None
    if not isinstance(info, dict):
        raise DataError(json_path, "a model description must be a JSON object")
    if info.get("format") != MODEL_FORMAT:
        raise DataError(json_path, f"'format' is {info.get('format')!r}, expected {MODEL_FORMAT!r}: not a humanparse model")
    version = info.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DataError(json_path, f"'version' must be a positive integer, not {version!r}")
    if version > MODEL_FORMAT_VERSION:
        raise DataError(
            json_path, f"model file version {version} is newer than this humanparse reads ({MODEL_FORMAT_VERSION}); upgrade"
        )
    missing = [k for k in ("model", "label_schema", "input_size", "normalization") if k not in info]
    if missing:
        raise DataError(json_path, f"missing entries {missing}")
    return info


def _parse_joint_schema(info: dict[str, Any], spec: dict[str, Any], json_path: Path) -> JointSchema | None:
    if info.get("joint_schema") is None:
        return None
    try:
        schema = joint_schema_from_dict(info["joint_schema"], "joint_schema")
    except SchemaError as e:
        raise DataError(json_path, f"invalid joint schema: {e}") from None
    if spec.get("num_joints", schema.num_joints) != schema.num_joints:
        raise DataError(json_path, f"the model has {spec['num_joints']} joints but its joint schema has {schema.num_joints}")
    return schema


def _parse_info(
    info: dict[str, Any], json_path: Path
) -> tuple[dict, LabelSchema | None, tuple[int, int], tuple, tuple, dict]:
    spec = info["model"]
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise DataError(json_path, f"'model' must be a spec with a 'name', not {spec!r}")
    if info["label_schema"] is None:
        if "num_classes" in spec:
            raise DataError(json_path, f"model {spec['name']!r} parses, but the file has no label schema")
        schema = None
    else:
        try:
            schema = label_schema_from_dict(info["label_schema"], "label_schema")
        except SchemaError as e:
            raise DataError(json_path, f"invalid label schema: {e}") from None
    if schema is not None and "num_classes" in spec and spec["num_classes"] != schema.num_classes:
        raise DataError(
            json_path, f"the model has {spec['num_classes']} classes but its label schema has {schema.num_classes}"
        )
    try:
        input_size = _check_input_size(info["input_size"])
    except ValueError as e:
        raise ModelFileError(json_path, str(e)) from None
    try:
        preprocessing = Preprocessing.from_dict(info["normalization"])
        mean, std = preprocessing.mean, preprocessing.std
        test_time = check_test_time(info.get("test_time", {}), "test_time")
    except ValueError as e:
        raise DataError(json_path, str(e)) from None
    return spec, schema, input_size, mean, std, test_time


def _read_weights(weights_path: Path) -> dict[str, torch.Tensor]:
    if not weights_path.is_file():
        raise DataError(weights_path, f"missing: a model folder holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    from safetensors.torch import load_file

    try:
        # safetensors only parses a JSON header and raw tensor bytes: nothing is executed.
        return load_file(str(weights_path), device="cpu")
    except Exception as e:  # safetensors raises its own error type for any malformed file
        raise DataError(weights_path, f"not a valid safetensors weights file ({e})") from None


def _check_weights(model: nn.Module, state: dict[str, torch.Tensor], weights_path: Path, name: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs model)", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise DataError(weights_path, f"weights do not match model {name!r}; " + "; ".join(problems))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> SavedModel:
    """Load a model folder (or its model.json / model.safetensors): the model is built from the
    recorded spec, its weights loaded strictly, and it is returned in eval mode on ``device``.

    Every problem (missing file, wrong format, unknown model, weights that do not fit) is a
    :class:`DataError` naming the file.
    """
    dev = resolve_device(device)
    folder = _model_folder(path)
    json_path = folder / CONFIG_FILE
    info = read_model_info(folder)
    spec, schema, input_size, mean, std, test_time = _parse_info(info, json_path)

    from ..models import build_model

    try:
        model = build_model(spec)
    except ValueError as e:
        raise DataError(json_path, str(e)) from None
    weights_path = folder / WEIGHTS_FILE
    state = _read_weights(weights_path)
    _check_weights(model, state, weights_path, spec["name"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # e.g. a dtype that cannot be copied into the parameter
        raise DataError(weights_path, f"weights do not load into model {spec['name']!r}: {e}") from None
    model.to(dev).eval()
    return SavedModel(
        model=model, spec=spec, label_schema=schema, input_size=input_size, mean=mean, std=std,
        test_time=test_time, info=info, path=folder, joint_schema=_parse_joint_schema(info, spec, json_path),
    )


__all__ = [
    "CONFIG_FILE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "WEIGHTS_FILE",
    "SavedModel",
    "check_test_time",
    "load_model",
    "read_model_info",
    "resolve_device",
    "save_model",
]
