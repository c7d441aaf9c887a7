"""No key or flag that names weights or a checkpoint makes the tool fetch a file, and no file is
ever unpickled beyond ``torch.load(weights_only=True)``: a checkpoint whose unpickling would run
code (here: create a marker file) is served on loopback and put on disk, and every way of
giving it to the tool is refused with one line naming the key, the marker never appearing."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
import torch

from helpers import CONFIGS
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.errors import ConfigError, DataError, UsageError
from humanparse.engine.train import SafeCheckpointIO, init_from_weights, run_train
from humanparse.inference.model_file import load_model
from humanparse.models import build_model
from humanparse.nn.weights import read_state_dict


class RunsCode:
    """Unpickling this creates ``marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def hostile_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {"model.w": torch.zeros(1)}, "epoch": 0, "global_step": 0, "x": RunsCode(marker)}, path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code-ran"


def test_the_hostile_checkpoint_runs_code_when_unpickled(tmp_path, marker):
    """The check of the check: what the tool refuses really would run code."""
    torch.load(hostile_checkpoint(tmp_path / "h.ckpt", marker), weights_only=False)
    assert marker.exists()


@pytest.fixture
def served(tmp_path, marker, monkeypatch):
    """A URL on loopback serving the hostile checkpoint; ``served.requests`` counts the fetches."""
    folder = tmp_path / "www"
    folder.mkdir()
    hostile_checkpoint(folder / "x.ckpt", marker)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # where a download would be cached
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield type("Served", (), {"url": f"http://127.0.0.1:{server.server_port}/x.ckpt", "requests": requests})
    finally:
        server.shutdown()
        server.server_close()


def train_args(root: Path, out: Path, *overrides: str) -> list[str]:
    config = CONFIGS / "synth" / "deeplab_resnet18.yaml"
    return [
        "train", str(config), f"data.root={root}", f"train.out_dir={out}", "data.num_workers=0",
        "train.accelerator=cpu", "train.devices=1", "train.max_epochs=1", *overrides,
    ]


FLAGS = {
    "train.resume": (lambda r, t, url: train_args(r, t / "run", f"train.resume={url}"), "train.resume"),
    "train.init_from": (lambda r, t, url: train_args(r, t / "run", f"train.init_from={url}"), "train.init_from"),
    "model.pretrained": (lambda r, t, url: train_args(r, t / "run", f"model.pretrained={url}"), "model.pretrained"),
    "evaluate --model": (
        lambda r, t, url: ["evaluate", "--model", url, "--format", "lip", "--root", str(r)], "--model"),
    "predict --model": (lambda r, t, url: ["predict", "--model", url, str(r), "--out", str(t / "o")], "--model"),
    "export MODEL": (lambda r, t, url: ["export", url, "--onnx", str(t / "m.onnx")], "MODEL"),
}


@pytest.mark.parametrize("flag", list(FLAGS))
def test_every_weights_flag_refuses_a_url(flag, served, marker, small_synth_root, tmp_path, capsys):
    make_args, key = FLAGS[flag]
    assert main(make_args(small_synth_root, tmp_path, served.url)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"humanparse: error: {key}: '{served.url}' is a URL or remote location" in err, err
    assert served.requests == [] and not marker.exists()


def test_a_shared_config_naming_a_url_is_refused(served, marker, tmp_path):
    config = tmp_path / "shared.yaml"
    config.write_text(f"train:\n  resume: {served.url}\n")
    with pytest.raises(ConfigError, match=r"train\.resume: .* is a URL"):
        load_config(config)
    assert served.requests == [] and not marker.exists()


def test_the_api_refuses_urls_too(served, marker, small_synth_root, tmp_path):
    """Configs built in code skip load_config: the functions that read the paths check them."""
    config = load_config(None, ["data.format=lip", f"data.root={small_synth_root}", f"train.out_dir={tmp_path}",
                                "model.backbone=resnet18", "model.base_width=8", "data.num_workers=0"])
    config["train"]["resume"] = served.url
    with pytest.raises(ConfigError, match=r"train\.resume"):
        run_train(config, progress=False)
    with pytest.raises(ConfigError, match=r"train\.init_from"):
        init_from_weights(torch.nn.Linear(1, 1), served.url)
    with pytest.raises(ConfigError, match=r"model\.pretrained"):
        build_model({"name": "deeplab", "num_classes": 3, "backbone": "resnet18", "base_width": 8, "pretrained": served.url})
    with pytest.raises(UsageError, match="model folder"):
        load_model(served.url)
    with pytest.raises(UsageError, match="weights file"):
        read_state_dict(served.url)
    with pytest.raises(ConfigError, match="checkpoint"):
        SafeCheckpointIO().load_checkpoint(served.url)
    assert served.requests == [] and not marker.exists()


LOCAL = {
    "train.resume": lambda path: [f"train.resume={path}"],
    "train.init_from": lambda path: [f"train.init_from={path}"],
    "model.pretrained": lambda path: [f"model.pretrained={path.with_suffix('.pt')}"],
}


@pytest.mark.parametrize("key", list(LOCAL))
def test_a_local_hostile_file_is_refused_by_weights_only_loading(key, marker, small_synth_root, tmp_path, capsys):
    hostile = hostile_checkpoint(tmp_path / "hostile.ckpt", marker)
    hostile.with_suffix(".pt").write_bytes(hostile.read_bytes())
    assert main(train_args(small_synth_root, tmp_path / "run", *LOCAL[key](hostile))) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("humanparse: error: ") and "hostile." in line and "holds a pickled io.open" in line, err
    assert not marker.exists()


def test_checkpoint_io_reads_with_weights_only_whatever_lightning_asks(marker, tmp_path):
    hostile = hostile_checkpoint(tmp_path / "hostile.ckpt", marker)
    with pytest.raises(DataError) as error:
        SafeCheckpointIO().load_checkpoint(hostile, weights_only=False)
    assert error.value.path == str(hostile)
    assert not marker.exists()
