"""A device that is not there (no GPU, a GPU index beyond the last, MPS, TPU) is one line before any
work, for train as for predict and evaluate; the machine is faked so the tests mean the same on
a CPU and on a GPU machine."""

from __future__ import annotations

import pytest
import torch

from helpers import CONFIGS
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.devices import check_accelerator, resolve_device
from humanparse.errors import ConfigError, UsageError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def train_section(*overrides: str) -> dict:
    return load_config(None, list(overrides))["train"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.accelerator=gpu"], "train.accelerator=gpu asked for, but no CUDA GPU is available (use train.accelerator=cpu)"),
        (["train.accelerator=cuda"], "train.accelerator=cuda asked for, but no CUDA GPU is available"),
        (["train.accelerator=mps"], "train.accelerator=mps asked for, but no Apple MPS device is available"),
        (["train.devices=[0]"], "train.devices=[0]: on the CPU, train.devices is a number of processes (>= 1)"),
        (["train.devices=-1"], "train.devices=-1: on the CPU"),
    ],
)
def test_no_gpu(no_gpu, overrides, message):
    with pytest.raises(ConfigError) as error:
        check_accelerator(train_section(*overrides))
    assert str(error.value).startswith(message)


def test_a_tpu_without_torch_xla(no_gpu, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"train.accelerator=tpu asked for, but no TPU is available \(torch_xla"):
        check_accelerator(train_section("train.accelerator=tpu"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.devices=3"], "train.devices=3: 3 GPUs asked for, but this machine has 1 CUDA GPU (index 0)"),
        (["train.accelerator=gpu", "train.devices=2"], "train.devices=2: 2 GPUs asked for"),
        (["train.devices=[1]"], "train.devices=[1]: GPU index 1 asked for, but this machine has 1 CUDA GPU (index 0)"),
        (["train.devices=[0, 2]"], "train.devices=[0, 2]: GPU index 2 asked for"),
    ],
)
def test_more_gpus_than_there_are(one_gpu, overrides, message):
    with pytest.raises(ConfigError) as error:
        check_accelerator(train_section(*overrides))
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("overrides", [[], ["train.devices=1"], ["train.devices=[0]"], ["train.devices=-1"],
                                       ["train.accelerator=gpu"], ["train.accelerator=cpu", "train.devices=2"]])
def test_what_is_there_passes(one_gpu, overrides):
    check_accelerator(train_section(*overrides))


def test_cpu_passes_without_a_gpu(no_gpu):
    check_accelerator(train_section())
    check_accelerator(train_section("train.accelerator=cpu", "train.devices=3"))  # three CPU processes


@pytest.mark.parametrize(
    "device, message",
    [
        ("cuda:1", "device 'cuda:1' asked for, but this machine has 1 CUDA GPU (index 0)"),
        ("cuda:7", "device 'cuda:7' asked for"),
        ("mps", "device 'mps' asked for, but no Apple MPS device is available (use --device cpu)"),
        ("gpu", "unknown device 'gpu'"),
    ],
)
def test_resolve_device_on_one_gpu(one_gpu, device, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_device(device)
    assert resolve_device("cuda:0") == torch.device("cuda", 0) and resolve_device("cuda").type == "cuda"


def _train(root, out, *overrides):
    return ["train", str(CONFIGS / "synth" / "deeplab_resnet18.yaml"), f"data.root={root}", f"train.out_dir={out}",
            "data.num_workers=0", *overrides]


@pytest.mark.parametrize(
    "machine, make_args, message",
    [
        ("no_gpu", lambda r, t: _train(r, t / "run", "train.accelerator=gpu"), "train.accelerator=gpu asked for"),
        ("one_gpu", lambda r, t: _train(r, t / "run", "train.devices=3"), "train.devices=3: 3 GPUs asked for"),
        ("one_gpu", lambda r, t: ["predict", "--model", str(t / "none"), str(r), "--out", str(t / "o"),
                                  "--device", "cuda:1"], "device 'cuda:1' asked for"),
        ("one_gpu", lambda r, t: ["evaluate", "--model", str(t / "none"), "--format", "lip", "--root", str(r),
                                  "--device", "cuda:2"], "device 'cuda:2' asked for"),
    ],
)
def test_through_the_command_line_before_any_work(request, machine, make_args, message, small_synth_root, tmp_path,
                                                 capsys):
    request.getfixturevalue(machine)
    assert main(make_args(small_synth_root, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"humanparse: error: {message}") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "o").exists()  # nothing written
