"""Bad input to a documented command is one clear line on stderr and exit 2, never a traceback:
the command line is the one place that prints errors (every library error is a HumanparseError)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CONFIGS
from humanparse.cli import main


def train_args(root: Path, out: Path, *overrides: str) -> list[str]:
    config = CONFIGS / "synth" / "deeplab_resnet18.yaml"
    return ["train", str(config), f"data.root={root}", f"train.out_dir={out}", "data.num_workers=0", *overrides]


CASES = {
    "train: missing config file": (lambda r, t: ["train", str(t / "nope.yaml")], "cannot read config"),
    "train: unknown key": (lambda r, t: train_args(r, t, "train.lrate=1"), "unknown config key 'train.lrate'"),
    "train: earlier loss key": (lambda r, t: train_args(r, t, "train.aux_weight=0.5"), "no longer a train key"),
    "train: unknown model": (lambda r, t: train_args(r, t, "model.name=unet9"), "unknown model 'unet9'"),
    "train: unknown backbone": (lambda r, t: train_args(r, t, "model.backbone=resnet7"), "unknown backbone 'resnet7'"),
    "train: bad model option": (lambda r, t: train_args(r, t, "model.depth=3"), "model 'deeplab'"),
    "train: loss the model cannot feed": (
        lambda r, t: train_args(r, t, "loss=[{type: heatmap_l2}]"), "needs a model that predicts joints"),
    "train: epochs not a number": (
        lambda r, t: train_args(r, t, "train.max_epochs=abc"), "train.max_epochs: expected a positive integer"),
    "train: seed out of range": (lambda r, t: train_args(r, t, "train.seed=-1"), "train.seed: expected an integer in"),
    "train: unknown precision": (lambda r, t: train_args(r, t, "train.precision=17"), "train.precision: expected one of"),
    "train: max_time not a duration": (lambda r, t: train_args(r, t, "train.max_time=soon"), "train.max_time: expected"),
    "train: flip probability above 1": (
        lambda r, t: train_args(r, t, "data.augment.flip=1.5"), "data.augment.flip: expected a number in [0, 1]"),
    "train: no data root": (lambda r, t: train_args(r, t, "data.root=null"), "data.root is not set"),
    "train: unknown data format": (lambda r, t: train_args(r, t, "data.format=voc"), "unknown dataset format 'voc'"),
    "train: ids not in the data": (lambda r, t: train_args(r, t, "data.train_ids=[x1, x2]"), "ids not in the dataset"),
    "train: init_from nothing": (
        lambda r, t: train_args(r, t, f"train.init_from={t / 'none.txt'}"), "model folder or a .ckpt"),
    "evaluate: no model": (
        lambda r, t: ["evaluate", "--model", str(t / "none"), "--format", "lip", "--root", str(r)], "none"),
    "predict: no model": (lambda r, t: ["predict", "--model", str(t / "none"), str(r), "--out", str(t / "o")], "none"),
    "export: no model": (lambda r, t: ["export", str(t / "none"), "--onnx", str(t / "m.onnx")], "none"),
    "score: no folders": (
        lambda r, t: ["score", "parsing", "--gt", str(t / "a"), "--pred", str(t / "b"), "--schema", "lip"], "a"),
    "schemas: unknown": (lambda r, t: ["schemas", "nope"], "unknown label schema 'nope'"),
    "synth: bad count": (lambda r, t: ["synth", "--out", str(t / "s"), "-n", "0"], ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, small_synth_root, tmp_path, capsys):
    make_args, message = CASES[case]
    assert main(make_args(small_synth_root, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("humanparse")]
    assert lines and lines[-1].startswith("humanparse: error: ") and message in lines[-1], err
