"""``humanparse demo``: the main job runs end to end and leaves everything it promises."""

from __future__ import annotations

import json

import pytest

from humanparse.cli import main


@pytest.mark.slow
def test_demo_end_to_end_in_small(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.1", "--num-images", "40"]) == 0
    printed = capsys.readouterr().out
    assert "validation mIoU" in printed and "mIoU" in printed
    scores = json.loads((out / "scores.json").read_text())
    assert 0.0 <= scores["miou"] <= 100.0
    assert (out / "run" / "model" / "model.json").is_file()
    assert (out / "run" / "model" / "model.safetensors").is_file()
    overlays = sorted((out / "predictions").glob("*_overlay.jpg"))
    labels = sorted((out / "predictions").glob("*.png"))
    assert len(overlays) == 4 and len(labels) == 4
    # A second run reuses the synthetic data rather than failing on the existing folder ...
    assert main(["demo", "--out", str(out), "--minutes", "0.05", "--num-images", "40"]) == 0
    assert "reusing the synthetic people" in capsys.readouterr().out
    # ... and trains afresh: one run's checkpoints, not two.
    assert len(list((out / "run" / "checkpoints").glob("best-*.ckpt"))) <= 1
