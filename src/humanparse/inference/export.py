"""``humanparse export``: a saved model as an ONNX graph that maps normalised images to its maps.

The graph's input ``image`` is (B, 3, H, W) float32, normalised as the model file says
(``(pixel / 255 - mean) / std``, RGB), followed by the model's named extra inputs (each
(B, channels, H, W) float32, e.g. a WSHP prior), in the order the model declares them; its outputs are ``logits`` (B, C, h, w) for a model
that parses and ``heatmaps`` (B, K, h, w) for one that predicts joints, in that order, at the
model's output stride. The batch axis is dynamic; height and width are too with ``dynamic_size``.
Everything needed to use the graph alone (label schema, input size, normalisation,
test-time settings) is written beside it as ``<name>.json`` and embedded in the ONNX
file's metadata under the key ``humanparse``.

onnx (and onnxscript for the dynamo exporter, onnxruntime for ``verify``) are an optional
extra: ``pip install humanparse[onnx]``.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from ..io import check_writable_file
from ..models.output import ModelOutput, extra_inputs_of
from ..io import atomic_file, write_text_atomically
from .model_file import CONFIG_FILE, load_model

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
HEATMAPS_NAME = "heatmaps"
METADATA_KEY = "humanparse"
DEFAULT_OPSET = 17
_INSTALL_HINT = "pip install humanparse[onnx]"


class InferenceOutputs(nn.Module):
    """The model with only what inference needs as outputs: its final parsing logits and/or
    joint heatmaps, as a tuple in the order of :attr:`names`."""

    def __init__(self, model: nn.Module, names: tuple[str, ...] = (OUTPUT_NAME,)) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.input_names = tuple(extra_inputs_of(model))  # after the image, in this order

    @staticmethod
    def names_of(output: ModelOutput) -> tuple[str, ...]:
        """The outputs a model gave: ("logits",), ("heatmaps",) or both."""
        names = tuple(n for n, t in ((OUTPUT_NAME, output.logits), (HEATMAPS_NAME, output.heatmaps)) if t is not None)
        if not names:
            raise ValueError("the model predicts neither parsing logits nor joint heatmaps")
        return names

    def select(self, output: ModelOutput) -> tuple[torch.Tensor, ...]:
        """The tensors named by :attr:`names`, from a model output."""
        return tuple(output.logits if n == OUTPUT_NAME else output.heatmaps for n in self.names)  # type: ignore[misc]

    def forward(self, image: torch.Tensor, *extras: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.select(self.model(image, **dict(zip(self.input_names, extras))))


def _require(module: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{purpose} needs the '{module}' package: {_INSTALL_HINT}") from None


def sidecar_of(onnx_path: str | Path) -> Path:
    """The JSON description written beside an exported ONNX file."""
    return Path(onnx_path).with_suffix(".json")


def _dynamic_axes(dynamic_size: bool) -> dict[int, str]:
    return {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}


def _export_torchscript(
    wrapper: InferenceOutputs, example: tuple[torch.Tensor, ...], path: Path, opset: int, dynamic_size: bool
) -> None:
    axes = _dynamic_axes(dynamic_size)
    inputs = [INPUT_NAME, *wrapper.input_names]
    with warnings.catch_warnings():
        # Chosen on purpose: it is fast and handles the plain conv nets exported here.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            wrapper, example, str(path), dynamo=False, opset_version=opset,
            input_names=inputs, output_names=list(wrapper.names),
            dynamic_axes={**{name: axes for name in inputs}, **{name: axes for name in wrapper.names}},
            do_constant_folding=True,
        )


def _export_dynamo(
    wrapper: InferenceOutputs, example: tuple[torch.Tensor, ...], path: Path, opset: int, dynamic_size: bool
) -> None:
    _require("onnxscript", "ONNX export with the dynamo exporter")
    from torch.export import Dim

    # One Dim object per axis name, shared by every input: they all have the image's batch and size.
    dims = {name: Dim(name) for name in _dynamic_axes(dynamic_size).values()}
    shapes = {axis: dims[name] for axis, name in _dynamic_axes(dynamic_size).items()}
    program = torch.onnx.export(
        wrapper, example, dynamo=True, opset_version=opset,
        input_names=[INPUT_NAME, *wrapper.input_names], output_names=list(wrapper.names),
        dynamic_shapes=tuple(shapes for _ in example), external_data=False, verbose=False,
    )
    program.save(str(path), external_data=False)  # type: ignore[union-attr]


def example_inputs(model: nn.Module, batch: int, size: tuple[int, int], generator: torch.Generator) -> tuple:
    """Random (image, *extra inputs) of one batch, in the graph's input order."""
    extras = extra_inputs_of(model).values()
    return (
        torch.randn(batch, 3, *size, generator=generator),
        *(torch.rand(batch, spec.channels, *size, generator=generator) for spec in extras),
    )


def verify_onnx(
    onnx_path: str | Path, model: nn.Module, inputs: list[torch.Tensor | tuple[torch.Tensor, ...]], atol: float = 1e-4,
    *, name: str | None = None,
) -> float:
    """Largest absolute difference between onnxruntime and PyTorch outputs (logits and/or
    heatmaps) over ``inputs`` (image batches, or (image, *extra inputs) tuples); raises
    ValueError above ``atol``. ``name`` is the file to name in errors (default ``onnx_path``)."""
    name = name or str(onnx_path)
    ort = _require("onnxruntime", "checking an ONNX export")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    device = next(model.parameters()).device
    worst = 0.0
    input_names = (INPUT_NAME, *extra_inputs_of(model))
    for given in inputs:
        tensors = given if isinstance(given, tuple) else (given,)
        x = tensors[0]
        with torch.no_grad():
            output = model(x.to(device), **{n: t.to(device) for n, t in zip(input_names[1:], tensors[1:])})
        names = InferenceOutputs.names_of(output)
        expected = [t.float().cpu().numpy() for t in InferenceOutputs(model, names).select(output)]
        got = session.run(list(names), {n: t.cpu().numpy() for n, t in zip(input_names, tensors)})
        for output_name, e, g in zip(names, expected, got):
            if g.shape != e.shape:
                raise ValueError(
                    f"{name}: ONNX {output_name} have shape {g.shape}, PyTorch {e.shape} for input {tuple(x.shape)}"
                )
            worst = max(worst, float(np.abs(g - e).max()))
    if worst > atol:
        raise ValueError(f"{name}: ONNX and PyTorch outputs differ by up to {worst:.3g} (> {atol})")
    return worst


def export_onnx(
    model_path: str | Path,
    out_path: str | Path,
    opset: int = DEFAULT_OPSET,
    *,
    dynamic_size: bool = False,
    dynamo: bool = False,
    verify: bool = False,
) -> Path:
    """Export a saved model's logits and/or heatmaps to ONNX at ``out_path`` (a ``.onnx`` file) with a
    dynamic batch axis, and write ``<out_path without suffix>.json`` beside it.

    dynamic_size: also let height and width vary (the example traced is the model's input
        size; models whose shapes depend on Python numbers may still fix them: use ``verify``).
    dynamo: use the torch.export-based exporter instead of the TorchScript one.
    verify: run onnxruntime on batches of 1 and 3 (and another size with ``dynamic_size``)
        and compare with PyTorch (atol 1e-4).
    """
    onnx = _require("onnx", "ONNX export")
    out = Path(out_path)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"{out}: the ONNX file's name must end in .onnx (its .json sidecar goes beside it)")
    check_writable_file(out, "--onnx")
    check_writable_file(sidecar_of(out), "--onnx's sidecar")
    saved = load_model(model_path, device="cpu")
    if saved.path is not None and sidecar_of(out).resolve() == (saved.path / CONFIG_FILE).resolve():
        raise ValueError(f"{out}: its sidecar would overwrite the model's own {CONFIG_FILE}; choose another name")
    model = saved.model.float().eval()
    h, w = saved.input_size
    # A batch of 2 keeps the exporter from specialising the batch axis to 1.
    example = example_inputs(model, 2, (h, w), torch.Generator().manual_seed(0))
    with torch.no_grad():
        output = model(example[0], **dict(zip(extra_inputs_of(model), example[1:])))
    wrapper = InferenceOutputs(model, InferenceOutputs.names_of(output)).eval()
    shapes = [tuple(t.shape) for t in wrapper.select(output)]
    meanings = {
        OUTPUT_NAME: "parsing logits at the model's output stride; upsample to the input size",
        HEATMAPS_NAME: "joint heatmaps at the model's output stride, one per joint of joint_schema",
    }
    outputs = [
        {"name": n, "shape": ["batch", shape[1], *(["h", "w"] if dynamic_size else shape[2:])],
         "dtype": "float32", "meaning": meanings[n]}
        for n, shape in zip(wrapper.names, shapes)
    ]

    description: dict[str, Any] = {
        **saved.info,
        "onnx": {
            "file": out.name,
            "opset": opset,
            "input": {"name": INPUT_NAME, "shape": ["batch", 3, "height" if dynamic_size else h, "width" if dynamic_size else w],
                      "dtype": "float32", "layout": "NCHW, RGB, (pixel / scale - mean) / std"},
            # The model's named inputs beside the image, in the graph's order after it.
            "extra_inputs": [
                {"name": n, "shape": ["batch", spec.channels, "height" if dynamic_size else h, "width" if dynamic_size else w],
                 "dtype": "float32", "class_indexed": spec.class_indexed}
                for n, spec in extra_inputs_of(model).items()
            ],
            # One entry per graph output (``output`` names the first, as single-output files always had).
            "output": outputs[0],
            "outputs": outputs,
        },
    }
    text = json.dumps(description, indent=2) + "\n"
    with atomic_file(out) as tmp:
        with torch.no_grad():
            (_export_dynamo if dynamo else _export_torchscript)(wrapper, example, tmp, opset, dynamic_size)
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(description)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        if verify:
            g = torch.Generator().manual_seed(1)
            checks = [example_inputs(model, 1, (h, w), g), example_inputs(model, 3, (h, w), g)]
            if dynamic_size:
                checks.append(example_inputs(model, 2, (h + 16, max(16, w - 8)), g))
            verify_onnx(tmp, model, checks, name=str(out))
    write_text_atomically(sidecar_of(out), text)
    return out


__all__ = [
    "HEATMAPS_NAME", "INPUT_NAME", "METADATA_KEY", "OUTPUT_NAME", "InferenceOutputs", "example_inputs", "export_onnx",
    "sidecar_of", "verify_onnx",
]
