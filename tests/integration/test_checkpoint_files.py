"""Checkpoints are written whole or not at all, and resuming from one that is missing or damaged
is an error naming it, checked before training starts."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from helpers import CPU_TRAINING, fill_disk_after, leftovers
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.engine.train import SafeCheckpointIO, build_trainer, read_checkpoint, run_train
from humanparse.errors import ConfigError, DataError

TINY = [
    "model.name=deeplab", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=8",
    "data.input_size=[64, 64]", "data.batch_size=8", "train.limit_val_batches=1", *CPU_TRAINING,
]


def config_of(root: Path, out: Path, *extra: str) -> dict:
    return load_config(None, [*TINY, f"data.root={root}", f"train.out_dir={out}", *extra])


def test_a_checkpoint_that_fills_the_disk_leaves_the_earlier_one(tmp_path, monkeypatch):
    io = SafeCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 2}, path)
    before = path.read_bytes()
    fill_disk_after(monkeypatch, room=1000)
    with pytest.raises(DataError, match="No space left on device") as error:
        io.save_checkpoint({"state_dict": {"w": torch.zeros(100_000)}, "global_step": 4}, path)
    assert error.value.path == str(path)
    assert path.read_bytes() == before and read_checkpoint(path)["global_step"] == 2
    assert leftovers(tmp_path) == []


def test_the_trainer_writes_checkpoints_through_it(small_synth_root, tmp_path):
    trainer = build_trainer(config_of(small_synth_root, tmp_path), progress=False)
    assert isinstance(trainer.strategy.checkpoint_io, SafeCheckpointIO)


@pytest.fixture(scope="module")
def one_epoch(small_synth_root, tmp_path_factory) -> Path:
    """A run folder after one epoch (24 images: two steps), to resume from."""
    out = tmp_path_factory.mktemp("one_epoch")
    run_train(config_of(small_synth_root, out, "train.max_epochs=1", "data.train_ids=synth_000000-synth_000015"),
              progress=False)
    return out


def test_a_full_disk_during_training_keeps_the_last_checkpoint(one_epoch, small_synth_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes((one_epoch / "checkpoints" / "last.ckpt").read_bytes())
    before = last.read_bytes()
    fill_disk_after(monkeypatch, room=4096)
    config = config_of(small_synth_root, run, "train.max_epochs=2", "data.train_ids=synth_000000-synth_000015",
                       "train.resume=last")
    with pytest.raises(DataError, match="No space left on device") as error:
        run_train(config, progress=False)
    assert Path(error.value.path).parent == run / "checkpoints"
    assert last.read_bytes() == before and read_checkpoint(last)["global_step"] == 2
    assert leftovers(run) == []


def test_resuming_what_is_not_there_is_an_error(small_synth_root, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"train\.resume=last: .*last\.ckpt does not exist"):
        run_train(config_of(small_synth_root, tmp_path / "fresh", "train.resume=last"), progress=False)
    assert not (tmp_path / "fresh" / "checkpoints").exists()  # nothing trained from scratch
    missing = tmp_path / "elsewhere.ckpt"
    args = ["train", str(tmp_path / "c.yaml"), *TINY, f"data.root={small_synth_root}",
            f"train.out_dir={tmp_path / 'fresh'}", f"train.resume={missing}"]
    (tmp_path / "c.yaml").write_text("{}\n")
    assert main(args) == 2
    assert f"humanparse: error: train.resume: checkpoint {missing} does not exist" in capsys.readouterr().err


def _truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: len(data) // 2])
    return target


def test_a_truncated_checkpoint_is_named_before_training(one_epoch, small_synth_root, tmp_path):
    run = tmp_path / "run"
    last = _truncated(one_epoch / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    with pytest.raises(DataError, match="damaged checkpoint") as error:
        run_train(config_of(small_synth_root, run, "train.resume=last", "train.max_epochs=2"), progress=False)
    assert error.value.path == str(last)
    assert not (run / "logs").exists()  # refused before the trainer was built


def test_a_damaged_checkpoint_is_named_not_a_traceback(small_synth_root, tmp_path, capsys):
    damaged = tmp_path / "damaged.ckpt"
    with zipfile.ZipFile(damaged, "w") as archive:  # a whole archive, but not what torch.save writes
        archive.writestr("damaged/data.pkl", b"\x80\x02not a pickle")
    (tmp_path / "c.yaml").write_text("{}\n")
    args = ["train", str(tmp_path / "c.yaml"), *TINY, f"data.root={small_synth_root}",
            f"train.out_dir={tmp_path / 'run'}", f"train.resume={damaged}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"humanparse: error: {damaged}: not a readable training checkpoint" in err, err
