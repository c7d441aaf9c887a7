"""Joint parsing + pose (JPPNet) on CCP with its joints from a separate pose CSV: it trains,
its pose loss falls, and ``evaluate`` scores both tasks, saying whose joints they are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import CPU_TRAINING, logged
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.engine.train import run_train


def synth_as_ccp(lip_root: Path, root: Path) -> tuple[Path, Path]:
    """The synthetic people of ``lip_root`` in CCP's PNG layout (one images/ and labels/ folder,
    split by id lists), their joints in one pose CSV beside it, as CCP's come."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows: list[str] = []
    for split in ("train", "val"):
        for image in sorted((lip_root / f"{split}_images").iterdir()):
            shutil.copy(image, root / "images" / image.name)
        for label in sorted((lip_root / f"{split}_segmentations").iterdir()):
            shutil.copy(label, root / "labels" / label.name)
        shutil.copy(lip_root / f"{split}_id.txt", root / f"{split}_id.txt")
        rows += (lip_root / f"lip_{split}_set.csv").read_text().splitlines()
    csv = root.parent / "joints.csv"
    csv.write_text("\n".join(rows) + "\n")
    return root, csv


@pytest.mark.slow  # 36 steps of a tiny JPPNet: about 15 s on two idle cores, two minutes under load
def test_jppnet_trains_on_ccp_with_keypoints_and_evaluate_scores_both(synth_root, tmp_path, capsys):
    root, csv = synth_as_ccp(synth_root, tmp_path / "ccp")
    out = tmp_path / "run"
    config = load_config(None, [
        "model.name=jppnet", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=16",
        "model.refine_stages=1", "model.scales=[1.0]", "data.input_size=[64, 64]", "data.batch_size=8",
        "data.augment.rotation=0", "data.augment.jitter=false", "train.optimizer=adamw", "train.lr=0.01",
        "train.weight_decay=0.0", *CPU_TRAINING, "data.format=ccp", f"data.root={root}", f"data.keypoints={csv}",
        "loss=[{type: cross_entropy}, {type: heatmap_l2, sigma_px: 8.0}]", "train.max_epochs=2",
        "train.limit_val_batches=1", f"train.out_dir={out}",
    ])
    summary = run_train(config, progress=False)
    pose_loss = logged(out, "train/loss_pose")
    assert len(pose_loss) >= 30 and np.mean(pose_loss[-5:]) < 0.8 * np.mean(pose_loss[:3]), pose_loss
    assert logged(out, "val/pck") and logged(out, "val/miou")

    json_out, some = tmp_path / "scores.json", tmp_path / "some_val_id.txt"
    some.write_text("\n".join((root / "val_id.txt").read_text().split()[:8]) + "\n")
    assert main(["evaluate", "--model", summary["model"], "--format", "ccp", "--root", str(root), "--split", "val",
                 "--ids", str(some), "--json", str(json_out), f"data.keypoints={csv}"]) == 0
    printed = capsys.readouterr().out
    written = json.loads(json_out.read_text())
    assert written["num_images"] == 8 and 0 <= written["miou"] <= 100
    assert written["pose"]["schema"] == "lip" and 0 <= written["pose"]["mean"] <= 100
    assert "head" in written["pose"]["protocol"]  # LIP's rule: the upper-neck to head-top distance
    assert "teacher" in written["pose"]["ground_truth"] and str(csv) in written["pose"]["ground_truth"]
    assert "against a teacher's keypoints, not hand labels" in printed and f"ground truth: {csv}" in printed
