"""Models may take named per-pixel inputs beside the image (a WSHP prior): the task reads them
from the batch's maps, the predictor letterboxes and mirrors them with the image, and ONNX
export gives each its own named graph input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import humanparse.models
from humanparse.config import ConfigError
from humanparse.engine.task import HumanTask
from humanparse.inference.export import export_onnx
from humanparse.inference.predictor import Predictor
from humanparse.models import ExtraInput, ModelOutput, extra_inputs_of
from humanparse.inference.model_file import load_model, save_model
from humanparse.schemas import LIP


class PriorNet(nn.Module):
    """Logits = a small conv of the image + a learned scale times the class prior (stride 1)."""

    output_stride = 1

    def __init__(self, num_classes: int, image_weight: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.extra_inputs = {"prior": ExtraInput(num_classes, class_indexed=True)}
        self.conv = nn.Conv2d(3, num_classes, 3, padding=1)
        nn.init.constant_(self.conv.weight, image_weight)
        nn.init.zeros_(self.conv.bias)
        self.prior_scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> ModelOutput:
        return ModelOutput(logits=self.conv(x) + self.prior_scale * prior)


@pytest.fixture
def prior_net(monkeypatch):
    monkeypatch.setitem(humanparse.models.MODELS, "prior_net", PriorNet)
    return {"name": "prior_net", "num_classes": LIP.num_classes}


def one_hot_prior(label: np.ndarray) -> np.ndarray:
    return np.eye(LIP.num_classes, dtype=np.float32)[label].transpose(2, 0, 1)


def test_the_task_feeds_the_batch_maps_by_name(prior_net):
    task = HumanTask(prior_net, LIP.to_dict(), (16, 16), {})
    assert set(extra_inputs_of(task.model)) == {"prior"}
    label = torch.randint(0, LIP.num_classes, (2, 16, 16))
    batch = {"image": torch.zeros(2, 3, 16, 16, dtype=torch.uint8), "label": label.to(torch.uint8),
             "maps": {"prior": torch.from_numpy(np.stack([one_hot_prior(lb.numpy()) for lb in label]))}}
    output = task(batch["image"], **task.model_inputs(batch))
    assert torch.equal(output.logits.argmax(1), label)  # the prior reached the model
    assert task.compute_loss(output, batch)["loss"] < 0.2  # log(20) = 3.0 without the prior
    with pytest.raises(ConfigError, match=r"takes the per-pixel input\(s\) \['prior'\]"):
        task.model_inputs({"image": batch["image"]})


@pytest.mark.parametrize("flip", [False, True])
def test_the_predictor_letterboxes_and_mirrors_the_prior_with_the_image(prior_net, flip):
    model = PriorNet(LIP.num_classes)
    # A label with left/right classes on one side only: mirroring the prior without swapping its
    # channels back would turn left arms into right arms.
    label = np.zeros((30, 50), dtype=np.uint8)
    label[5:25, 4:20] = LIP.classes.index("Left-arm")
    label[5:25, 30:46] = LIP.classes.index("Right-leg")
    image = np.full((30, 50, 3), 128, dtype=np.uint8)
    predictor = Predictor(model, LIP, (32, 32), flip=flip, scales=(1.0, 0.75))
    (prediction,) = predictor.predict([image], inputs=[{"prior": one_hot_prior(label)}])
    inside = np.ones_like(label, dtype=bool)
    inside[:, [0, -1]] = inside[[0, -1], :] = False  # border pixels blend with the letterbox
    assert (prediction.labels[inside] == label[inside]).mean() > 0.97
    with pytest.raises(ValueError, match="give one mapping per image"):
        predictor.predict([image])
    with pytest.raises(ValueError, match=r"must be \(20, H, W\)"):
        predictor.predict([image], inputs=[{"prior": np.zeros((20, 10, 10), np.float32)}])


def test_onnx_export_names_the_extra_input(prior_net, tmp_path: Path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    saved = save_model(tmp_path / "model", PriorNet(LIP.num_classes, image_weight=0.01), prior_net, LIP, (24, 24))
    out = export_onnx(saved, tmp_path / "prior.onnx", verify=True)  # verify: onnxruntime == PyTorch
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "prior"]
    assert load_model(saved).spec["name"] == "prior_net"
