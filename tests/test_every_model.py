"""Every registered model, checked alike: it builds, its outputs have the stated shapes, a saved
file reloads to the same outputs, ONNX Runtime agrees with PyTorch, and a training step runs on
the meta device (no host reads). A new model is tested by being registered (and given tiny
options in tests/helpers.py)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import TINY_OPTIONS, tiny_spec
from humanparse.engine.task import HumanTask
from humanparse.inference.export import export_onnx, verify_onnx
from humanparse.inference.model_file import load_model, save_model
from humanparse.models import MODELS, build_model, extra_inputs_of, predicts_joints, predicts_parsing
from humanparse.schemas import LIP, LIP_JOINTS

NAMES = sorted(MODELS)
SIZE = (40, 56)


def test_every_registered_model_has_tiny_options():
    assert set(MODELS) <= set(TINY_OPTIONS), f"give {sorted(set(MODELS) - set(TINY_OPTIONS))} tiny options"


def extras(model: torch.nn.Module, batch: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Random per-pixel inputs for a model that takes them beside the image (WSHP's prior)."""
    return {n: torch.rand(batch, e.channels, *SIZE, device=device) for n, e in extra_inputs_of(model).items()}


def built(name: str) -> tuple[dict, torch.nn.Module]:
    spec = tiny_spec(name, MODELS[name])
    torch.manual_seed(0)
    return spec, build_model(spec).eval()


@pytest.mark.parametrize("name", NAMES)
def test_outputs_have_the_stated_shapes(name):
    _, model = built(name)
    output = model(torch.randn(2, 3, *SIZE), **extras(model, 2))
    stride = model.output_stride
    grid = (math.ceil(SIZE[0] / stride), math.ceil(SIZE[1] / stride))
    if predicts_parsing(model):
        assert output.logits.shape == (2, LIP.num_classes, *grid)
    else:
        assert output.logits is None
    if predicts_joints(model):
        assert output.heatmaps.shape == (2, LIP_JOINTS.num_joints, *grid)
    else:
        assert output.heatmaps is None
    assert all(t.shape[0] == 2 for t in [*output.aux_logits, *output.aux_heatmaps, *output.extras.values()])
    assert all(not n.startswith(("net.", "_orig_mod.")) for n in model.state_dict())  # names stay loadable


@pytest.mark.parametrize("name", NAMES)
def test_a_saved_file_reloads_to_the_same_outputs_and_exports_to_onnx(name, tmp_path):
    spec, model = built(name)
    joints = LIP_JOINTS if predicts_joints(model) else None
    folder = save_model(tmp_path / "model", model, spec, LIP if predicts_parsing(model) else None, SIZE,
                        joint_schema=joints)
    x, more = torch.randn(1, 3, *SIZE), extras(model, 1)
    with torch.no_grad():
        before, after = model(x, **more), load_model(folder).model(x, **more)
    for a, b in ((before.logits, after.logits), (before.heatmaps, after.heatmaps)):
        assert (a is None) == (b is None) and (a is None or torch.equal(a, b))
    pytest.importorskip("onnxruntime")
    onnx_file = export_onnx(folder, tmp_path / "model.onnx")
    # onnxruntime within 1e-4 of PyTorch, relative to the outputs' size: untrained deep networks
    # in eval mode (the hourglass's residual chains on BatchNorm's initial statistics) give
    # outputs in the thousands, where float32 rounding alone passes an absolute 1e-4.
    batches = [(torch.randn(b, 3, *SIZE), *extras(model, b).values()) for b in (1, 3)]
    names = list(extra_inputs_of(model))
    with torch.no_grad():
        outputs = [model(x, **dict(zip(names, more))) for x, *more in batches]
    scale = max(float(t.abs().max()) for o in outputs for t in (o.logits, o.heatmaps) if t is not None)
    verify_onnx(onnx_file, model, batches, atol=1e-4 * max(1.0, scale))


@pytest.mark.parametrize("name", NAMES)
def test_a_training_step_runs_on_the_meta_device(name):
    spec, _ = built(name)
    task = HumanTask(spec, LIP.to_dict() if "num_classes" in spec else None, SIZE, {},
                     joint_schema=LIP_JOINTS.to_dict() if "num_joints" in spec else None)
    task.to("meta").train()
    keypoints = torch.zeros(2, LIP_JOINTS.num_joints, 3, device="meta")
    batch = {"image": torch.zeros(2, 3, *SIZE, dtype=torch.uint8, device="meta"),
             "label": torch.zeros(2, *SIZE, dtype=torch.uint8, device="meta"), "keypoints": keypoints,
             "maps": extras(task.model, 2, device="meta")}
    loss = task.compute_loss(task(batch["image"], **task.model_inputs(batch)), batch)["loss"]
    loss.backward()
    assert loss.device.type == "meta" and all(p.grad is not None for p in task.parameters() if p.requires_grad)
