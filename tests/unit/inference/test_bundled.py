"""Bundled models: half-precision model files, names that resolve to them, `humanparse models`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from humanparse.bundled import (
    DEFAULT_MODEL, bundle_model, bundled_model_info, bundled_model_path, bundled_models, example_photos,
    resolve_model,
)
from humanparse.cli import main
from humanparse.errors import UsageError
from humanparse.inference.model_file import WEIGHTS_FILE, load_model, read_model_info, save_model
from humanparse.models import build_model
from humanparse.schemas import LIP

SPEC = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8, "output_stride": 8}


@pytest.fixture(scope="module")
def trained_like_model(tmp_path_factory) -> Path:
    """A small model with non-trivial BatchNorm statistics, saved in full precision."""
    torch.manual_seed(0)
    model = build_model(SPEC)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, 3, 48, 48) * 2 + 0.5)
    return save_model(tmp_path_factory.mktemp("full") / "model", model.eval(), SPEC, LIP, (48, 48),
                      extra={"test_time": {"scales": [1.0], "flip": True}, "training": {"epochs": 1}})


def test_half_precision_weights_keep_batchnorm_statistics_in_float32(trained_like_model, tmp_path):
    half = bundle_model(trained_like_model, tmp_path / "half")
    dtypes = {}
    with safe_open(str(half / WEIGHTS_FILE), "pt") as f:
        for key in f.keys():
            dtypes[key] = f.get_tensor(key).dtype
    assert dtypes["backbone.conv1.weight"] == torch.float16
    assert {d for k, d in dtypes.items() if k.endswith((".running_mean", ".running_var"))} == {torch.float32}
    assert {d for k, d in dtypes.items() if k.endswith(".num_batches_tracked")} == {torch.int64}
    full_size = (trained_like_model / WEIGHTS_FILE).stat().st_size
    assert (half / WEIGHTS_FILE).stat().st_size < 0.6 * full_size


def test_a_half_precision_file_predicts_as_the_full_one(trained_like_model, tmp_path):
    full = load_model(trained_like_model).model
    half = load_model(bundle_model(trained_like_model, tmp_path / "half")).model
    assert next(half.parameters()).dtype == torch.float32  # loaded back into the float32 model
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        a, b = full(x).logits, half(x).logits
    assert (a - b).abs().max() < 1e-2 * a.abs().max()
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.98


def test_bundling_records_scores_and_keeps_the_model_description(trained_like_model, tmp_path):
    validation = {"dataset": "val", "miou": 12.5, "pixel_accuracy": 80.0, "mean_accuracy": 20.0}
    out = bundle_model(trained_like_model, tmp_path / "b", validation=validation, training={"config": "c.yaml"})
    info, original = read_model_info(out), read_model_info(trained_like_model)
    assert info["validation"] == validation and info["training"] == {"config": "c.yaml"}
    for key in ("model", "label_schema", "input_size", "normalization", "test_time"):
        assert info[key] == original[key]


def test_the_default_model_is_bundled_with_its_scores():
    assert DEFAULT_MODEL in bundled_models()
    info = bundled_model_info(DEFAULT_MODEL)
    assert info["label_schema"]["name"] == "ccp"
    val = info["validation"]
    assert set(val) >= {"dataset", "miou", "pixel_accuracy", "mean_accuracy", "per_class_iou", "num_images"}
    size = sum(f.stat().st_size for f in bundled_model_path().iterdir())
    assert size <= 25e6


def test_three_example_photos_ship_with_their_notice():
    photos = example_photos()
    assert [p.name for p in photos] == ["ccp_0037.jpg", "ccp_0048.jpg", "ccp_0120.jpg"]
    notice = (photos[0].parent.parent / "NOTICE").read_text(encoding="utf-8")
    assert "Clothing Co-Parsing" in notice and "Apache License" in notice
    assert "Apache License" in (photos[0].parent.parent / "LICENSE-CCP").read_text(encoding="utf-8")


def test_model_names_resolve_to_bundled_folders_unless_a_path_of_that_name_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model(None) == resolve_model(DEFAULT_MODEL) == bundled_model_path(DEFAULT_MODEL)
    assert (resolve_model(None) / "model.json").is_file()
    (tmp_path / DEFAULT_MODEL).mkdir()
    assert resolve_model(DEFAULT_MODEL) == Path(DEFAULT_MODEL)  # the user's own folder wins
    assert resolve_model("runs/x/model") == Path("runs/x/model")


def test_an_unknown_bundled_name_lists_the_bundled_ones():
    with pytest.raises(UsageError, match=f"no bundled model 'nope'; bundled: .*{DEFAULT_MODEL}"):
        bundled_model_path("nope")


def test_models_command_lists_classes_input_size_and_scores(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    info = bundled_model_info(DEFAULT_MODEL)
    h, w = info["input_size"]
    assert f"{DEFAULT_MODEL}  (default)" in text and f"input {h}x{w}" in text
    assert f"mIoU {info['validation']['miou']:.2f}" in text
    assert "59 classes (ccp)" in text and "sunglasses" in text
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["name"] == DEFAULT_MODEL)
    assert row["default"] and len(row["classes"]) == 59 and row["validation"] == info["validation"]


def test_predict_needs_inputs_or_the_examples(tmp_path, capsys):
    assert main(["predict", "--out", str(tmp_path / "out")]) == 2
    assert "--examples" in capsys.readouterr().err
