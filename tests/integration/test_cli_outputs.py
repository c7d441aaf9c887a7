"""An output that cannot be written (a read-only folder, a path under a file, a folder where a file
goes, a file where a folder goes) is refused by predict, export, evaluate and train before any
work: one line naming the option, the path and why, exit 2, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from helpers import CONFIGS
from humanparse.cli import main
from humanparse.inference.model_file import save_model
from humanparse.models import build_model
from humanparse.schemas import LIP

# Root writes into a folder whatever its mode: there the read-only case is not an error at all.
ROOT_IGNORES_MODES = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root, which may write into a read-only (chmod 555) folder; the other cases run",
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    spec = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8}
    return save_model(tmp_path_factory.mktemp("model") / "model", build_model(spec).eval(), spec, LIP, (32, 32))


def predict(model: Path, root: Path, out: Path) -> list[str]:
    image = sorted((root / "val_images").iterdir())[0]
    return ["predict", "--model", str(model), str(image), "--out", str(out)]


def export(model: Path, root: Path, out: Path) -> list[str]:
    return ["export", str(model), "--onnx", str(out)]


def evaluate(model: Path, root: Path, out: Path) -> list[str]:
    return ["evaluate", "--model", str(model), "--format", "lip", "--root", str(root), "--json", str(out)]


def train(model: Path, root: Path, out: Path) -> list[str]:
    return ["train", str(CONFIGS / "synth" / "deeplab_resnet18.yaml"), f"data.root={root}", f"train.out_dir={out}",
            "data.num_workers=0", "model.base_width=8", "data.input_size=[64, 64]", "train.accelerator=cpu",
            "train.max_steps=1"]


# command -> (its option in the message, its output's name, whether that output is a folder)
COMMANDS: dict[str, tuple[Callable[[Path, Path, Path], list[str]], str, str, bool]] = {
    "predict": (predict, "--out", "out", True),
    "export": (export, "--onnx", "m.onnx", False),
    "evaluate": (evaluate, "--json", "scores.json", False),
    "train": (train, "train.out_dir", "run", True),
}


def run(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_under_a_file_is_refused(command, model_dir, small_synth_root, tmp_path, capsys):
    make, option, name, _ = COMMANDS[command]
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    target = blocker / "sub" / name
    err = run(capsys, make(model_dir, small_synth_root, target))
    assert err == f"humanparse: error: {option} {target}: cannot be created: {blocker} is a file, not a folder"
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_wrong_kind_of_thing_in_the_output_place_is_refused(command, model_dir, small_synth_root, tmp_path, capsys):
    make, option, name, is_folder = COMMANDS[command]
    target = tmp_path / name
    if is_folder:
        target.write_text("keep me")
        expected = "exists and is a file, not a folder"
    else:
        (target / "inside").mkdir(parents=True)
        expected = "exists and is a folder, not a file"
    err = run(capsys, make(model_dir, small_synth_root, target))
    assert err == f"humanparse: error: {option} {target}: {expected}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing else written


def test_train_refuses_a_file_where_its_model_folder_goes_before_training(model_dir, small_synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model").write_text("not a model")
    err = run(capsys, train(model_dir, small_synth_root, out))
    assert err == f"humanparse: error: train.out_dir {out / 'model'}: exists and is a file, not a folder"
    (out / "model").unlink()
    (out / "model").mkdir()
    (out / "model" / "notes.txt").write_text("mine")
    err = run(capsys, train(model_dir, small_synth_root, out))
    assert err.startswith(f"humanparse: error: train.out_dir {out / 'model'}: exists and is not a model folder")
    assert sorted(p.name for p in out.iterdir()) == ["model"]  # no config.yaml, checkpoints or logs


@ROOT_IGNORES_MODES
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_output_in_a_read_only_folder_is_refused(command, model_dir, small_synth_root, tmp_path, capsys):
    make, option, name, _ = COMMANDS[command]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        err = run(capsys, make(model_dir, small_synth_root, locked / name))
    finally:
        locked.chmod(0o755)
    assert err.startswith(f"humanparse: error: {option} {locked / name}: cannot ")
    assert f"{locked}: Permission denied" in err
    assert not any(locked.iterdir())
