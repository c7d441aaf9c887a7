"""Pose-only data trains: an MPII-layout dataset (keypoints, no parsing labels, no label schema)
gives a pose model whose file has no label schema and which evaluate and predict accept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from humanparse.cli import main
from humanparse.config import load_config
from humanparse.data.readers import open_dataset
from humanparse.data.sample import MISSING
from humanparse.data.synth import write_synthetic_dataset
from humanparse.engine.train import run_train
from humanparse.inference.model_file import load_model


def write_mpii_layout(lip_root: Path, root: Path) -> None:
    """The synthetic people's joints as mmpose-style MPII json (1-based, as MPII's) beside their images."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for split in ("train", "val"):
        entries = []
        for sample in open_dataset("lip", lip_root, split=split):
            name = Path(sample.meta["image_path"]).name
            shutil.copy(sample.meta["image_path"], root / "images" / name)
            joints = sample.keypoints[0]
            visible = (joints[:, 2] != MISSING).astype(int)
            xy = np.where(visible[:, None] == 1, joints[:, :2] + 1.0, 0.0)
            entries.append({"image": name, "joints": xy.tolist(), "joints_vis": visible.tolist(),
                            "center": [32.0, 32.0], "scale": 1.0})
        (root / "annotations" / f"mpii_{split}.json").write_text(json.dumps(entries))


@pytest.mark.slow
def test_a_pose_model_trains_on_pose_only_data(tmp_path, capsys):
    lip_root, root = tmp_path / "lip", tmp_path / "mpii"
    write_synthetic_dataset(lip_root, 24, seed=2, size=(64, 64), val_fraction=0.25, clutter=0.0)
    write_mpii_layout(lip_root, root)
    out = tmp_path / "run"
    config = load_config(None, [
        "model.name=pose_net", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=8",
        "data.format=mpii", f"data.root={root}", "data.schema=lip",  # LIP's joint-based PCK: no head boxes needed
        "data.input_size=[64, 64]", "data.batch_size=6", "data.num_workers=0", "train.max_epochs=2",
        "train.optimizer=adamw", "train.lr=0.002", "train.accelerator=cpu", "train.devices=1",
        f"train.out_dir={out}",
    ])
    summary = run_train(config, progress=False)
    assert summary["monitor"] == "val/pck" and summary["best_val_pck"] is not None
    saved = load_model(summary["model"])
    assert saved.label_schema is None and saved.joint_schema is not None and saved.joint_schema.name == "lip"
    assert json.loads((Path(summary["model"]) / "model.json").read_text())["label_schema"] is None

    scores = tmp_path / "scores.json"
    assert main(["evaluate", "--model", summary["model"], "--format", "mpii", "--root", str(root),
                 "--schema", "lip", "--split", "val", "--json", str(scores)]) == 0
    assert json.loads(scores.read_text())["mean"] == pytest.approx(summary["best_val_pck"], abs=0.05)
    # A looser threshold counts more joints correct, and says which threshold it is.
    loose = tmp_path / "loose.json"
    assert main(["evaluate", "--model", summary["model"], "--format", "mpii", "--root", str(root),
                 "--schema", "lip", "--split", "val", "--json", str(loose), "--pck-threshold", "3"]) == 0
    assert "@3 " in capsys.readouterr().out
    loose_scores, default_scores = json.loads(loose.read_text()), json.loads(scores.read_text())
    assert loose_scores["threshold"] == 3.0 and loose_scores["mean"] > default_scores["mean"]
    predictions = tmp_path / "predictions"
    assert main(["predict", "--model", summary["model"], str(root / "images"), "--out", str(predictions)]) == 0
    assert (predictions / "joints.csv").is_file()
