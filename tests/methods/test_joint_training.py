"""Joint parsing + pose training (JPPNet) learns joints on synthetic humans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import CPU_TRAINING, logged, mean_pose_pck, metrics_rows
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.engine.train import run_train
from humanparse.inference.model_file import load_model

SIZE = 96  # the image size of synth_pose_root (conftest.py)
JOINT_TINY = [
    "model.name=jppnet", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=8",
    "model.refine_stages=1", f"data.input_size=[{SIZE}, {SIZE}]", "data.batch_size=8", "data.augment.rotation=0",
    "data.augment.jitter=false", "train.optimizer=adamw", "train.lr=0.005", "train.weight_decay=0.0", *CPU_TRAINING,
]


@pytest.mark.slow
def test_joint_training_learns_joints(synth_pose_root, tmp_path):
    out = tmp_path / "run"
    config = load_config(None, [*JOINT_TINY, f"data.root={synth_pose_root}", f"train.out_dir={out}", "train.max_epochs=15"])
    summary = run_train(config, progress=False)
    pose_loss = logged(out, "train/loss_pose")
    assert np.mean(pose_loss[-20:]) < 0.8 * np.mean(pose_loss[:5]), pose_loss
    pck = logged(out, "val/pck")
    baseline = mean_pose_pck(synth_pose_root)
    # A joint guessed uniformly over the image lands within half the head length (about 4.5
    # of 96 pixels here) well under 1% of the time; the mean pose does better (about 7%).
    # Beating the mean pose by half again means the network localises joints per image.
    assert max(pck) > 1.5 * baseline, (pck, baseline)
    assert max(pck) > 10.0, pck
    # The best checkpoint is picked by mIoU (the model parses); its model file keeps the joint schema.
    assert summary["monitor"] == "val/miou"
    saved = load_model(summary["model"])
    assert saved.joint_schema is not None and saved.joint_schema.num_joints == 16
    assert saved.spec["num_joints"] == 16 and saved.spec["num_classes"] == 20

    # evaluate scores both tasks of the model file; its scores are validation's at the best
    # epoch (both turn the network's maps into predictions by the predictor's same steps).
    json_out = tmp_path / "scores.json"
    assert main(["evaluate", "--model", summary["model"], "--format", "lip", "--root", str(synth_pose_root),
                 "--split", "val", "--json", str(json_out)]) == 0
    written = json.loads(json_out.read_text())
    best_epoch = int(np.argmax(logged(out, "val/miou")))
    assert written["miou"] == pytest.approx(summary["best_val_miou"], abs=0.05)
    assert written["pose"]["mean"] == pytest.approx(pck[best_epoch], abs=0.05)
    assert written["pose"]["schema"] == "lip" and "head" in written["pose"]["protocol"]


PARSING_TINY = [
    "model.name=deeplab", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=8",
    "model.head=aspp_v2", "data.input_size=[64, 64]", "data.batch_size=8", "train.optimizer=adamw",
    "train.lr=0.002", "train.limit_val_batches=1", *CPU_TRAINING,
]


def test_structure_loss_phase_and_joint_network_started_from_the_parsing_network(synth_pose_root, tmp_path):
    # SS-JPPNet's two phases in one run: plain cross-entropy in epoch 0, structure-sensitive from epoch 1.
    first = tmp_path / "parsing"
    config = load_config(None, [
        *PARSING_TINY, f"data.root={synth_pose_root}", f"train.out_dir={first}", "train.max_epochs=2",
        "data.train_ids=synth_000000-synth_000015",
        "loss=[{type: cross_entropy, stop_epoch: 1}, {type: structure_sensitive, start_epoch: 1}]",
    ])
    summary = run_train(config, progress=False)
    rows = metrics_rows(first)
    factor_epochs = {int(r["epoch"]) for r in rows if r.get("train/loss_structure_factor")}
    loss_epochs = {int(r["epoch"]) for r in rows if r.get("train/loss")}
    assert loss_epochs == {0, 1} and factor_epochs == {1}, (loss_epochs, factor_epochs)

    # JPPNet's second phase starts from that parsing network: backbone and ASPP copied by name.
    parsing = load_model(summary["model"]).model.state_dict()
    second = tmp_path / "joint"
    config = load_config(None, [
        *JOINT_TINY, f"data.root={synth_pose_root}", f"train.out_dir={second}", "data.input_size=[64, 64]",
        "train.max_steps=1", f"train.init_from={summary['model']}",
    ])
    from humanparse.engine.data import HumanDataModule
    from humanparse.engine.train import build_task

    task = build_task(config, HumanDataModule(config["data"]))
    joint = task.model.state_dict()
    copied = [k for k in parsing if k in joint]
    assert any(k.startswith("head.") for k in copied) and any(k.startswith("backbone.layer4") for k in copied)
    for key in copied:
        assert torch.equal(joint[key], parsing[key]), key
    assert any(k.startswith("refine.") for k in joint) and not any(k.startswith("refine.") for k in parsing)
