"""ONNX export: parity with PyTorch on dynamic batches, and a self-describing sidecar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import humanparse.models
from helpers import ToyParser, fill_disk_after, leftovers
from humanparse.cli import main
from humanparse.errors import DataError
from humanparse.inference.export import export_onnx, sidecar_of
from humanparse.models import ModelOutput
from humanparse.inference.model_file import load_model, save_model
from humanparse.schemas import LIP

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture
def model_dir(toy_model: str, tmp_path: Path) -> Path:
    net = ToyParser(LIP.num_classes)
    net.norm.running_mean.uniform_(-0.5, 0.5)
    return save_model(
        tmp_path / "model", net.eval(), {"name": toy_model, "num_classes": LIP.num_classes}, LIP, (32, 24),
        extra={"test_time": {"scales": [1.0, 0.75], "flip": True}},
    )


def test_cli_export_with_verify(model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "parser.onnx"
    assert main(["export", str(model_dir), "--onnx", str(out), "--verify"]) == 0
    assert "checked against PyTorch" in capsys.readouterr().out
    assert out.is_file() and json.loads(sidecar_of(out).read_text())["onnx"]["file"] == "parser.onnx"
    assert main(["export", str(model_dir), "--onnx", str(tmp_path / "parser.bin")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err


def _run(onnx_path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"image": x.numpy()})[0]


def test_onnx_matches_pytorch_on_dynamic_batches(model_dir: Path, tmp_path: Path) -> None:
    out = export_onnx(model_dir, tmp_path / "export" / "parser.onnx")
    assert out == tmp_path / "export" / "parser.onnx" and out.is_file()
    model = load_model(model_dir).model
    for batch in (2, 3):
        x = torch.randn(batch, 3, 32, 24)
        with torch.no_grad():
            expected = model(x).logits.numpy()
        got = _run(out, x)
        assert got.shape == expected.shape == (batch, LIP.num_classes, 16, 12)
        assert np.allclose(got, expected, atol=1e-4)
    assert sorted(p.name for p in out.parent.iterdir()) == ["parser.json", "parser.onnx"]


def test_sidecar_and_metadata_describe_the_model(model_dir: Path, tmp_path: Path) -> None:
    out = export_onnx(model_dir, tmp_path / "parser.onnx")
    sidecar = json.loads(sidecar_of(out).read_text())
    assert sidecar_of(out) == tmp_path / "parser.json"
    assert sidecar["format"] == "humanparse-model"
    assert sidecar["label_schema"]["classes"] == list(LIP.classes)
    assert sidecar["input_size"] == [32, 24]
    assert sidecar["normalization"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 255}
    assert sidecar["test_time"] == {"scales": [1.0, 0.75], "flip": True}
    assert sidecar["onnx"]["input"]["name"] == "image" and sidecar["onnx"]["output"]["name"] == "logits"
    assert sidecar["onnx"]["input"]["shape"] == ["batch", 3, 32, 24]
    assert sidecar["onnx"]["output"]["shape"] == ["batch", LIP.num_classes, 16, 12]
    embedded = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(embedded["humanparse"]) == sidecar


def test_dynamic_height_and_width(model_dir: Path, tmp_path: Path) -> None:
    out = export_onnx(model_dir, tmp_path / "any_size.onnx", dynamic_size=True, verify=True)
    model = load_model(model_dir).model
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():
        expected = model(x).logits.numpy()
    got = _run(out, x)
    assert got.shape == (2, LIP.num_classes, 24, 20)
    assert np.allclose(got, expected, atol=1e-4)


class FixedResizeNet(ToyParser):
    """Resizes to a size computed with Python numbers, which tracing freezes at the example size."""

    def forward(self, x: torch.Tensor) -> ModelOutput:
        half = F.interpolate(x, size=(int(x.shape[2] * 0.5), int(x.shape[3] * 0.5)), mode="bilinear", align_corners=False)
        return super().forward(half)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_verify_catches_a_graph_frozen_at_one_size(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(humanparse.models.MODELS, "fixed_resize", FixedResizeNet)
    folder = save_model(
        tmp_path / "model", FixedResizeNet(LIP.num_classes).eval(), {"name": "fixed_resize", "num_classes": 20}, LIP, (32, 24)
    )
    with pytest.raises(ValueError, match="frozen.onnx.*(differ|shape)"):
        export_onnx(folder, tmp_path / "frozen.onnx", dynamic_size=True, verify=True)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".onnx", ".json")]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # raised inside torch.export
def test_dynamo_exporter(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    out = export_onnx(model_dir, tmp_path / "dynamo.onnx", dynamo=True, opset=18, verify=True)
    x = torch.randn(3, 3, 32, 24)
    with torch.no_grad():
        expected = load_model(model_dir).model(x).logits.numpy()
    assert np.allclose(_run(out, x), expected, atol=1e-4)


def test_missing_onnx_package_says_how_to_install(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match=r"pip install humanparse\[onnx\]"):
        export_onnx(model_dir, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_bad_output_names_are_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.onnx"):
        export_onnx(model_dir, tmp_path / "parser.json")
    with pytest.raises(ValueError, match="overwrite"):
        export_onnx(model_dir, model_dir / "model.onnx")
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.json", "model.safetensors"]


def test_a_full_disk_leaves_the_earlier_export(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = export_onnx(model_dir, tmp_path / "m.onnx")
    before = {p: p.read_bytes() for p in (out, sidecar_of(out))}
    fill_disk_after(monkeypatch, room=1000)
    with pytest.raises(DataError, match="No space left on device") as error:
        export_onnx(model_dir, out, opset=18)
    assert error.value.path == str(out)
    assert {p: p.read_bytes() for p in before} == before
    assert leftovers(tmp_path) == []
