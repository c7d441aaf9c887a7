"""``humanparse predict`` and ``data check`` on inputs that would take unbounded memory or end
early: a decompression bomb's header and a truncated video, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from helpers import declared_png
from humanparse.cli import main


def _photo(path: Path, shape: tuple[int, int] = (30, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)


def _video(path: Path, frames: int, shape: tuple[int, int] = (30, 40)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (shape[1], shape[0]))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG videos"
    rng = np.random.default_rng(1)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    writer.release()


def test_predict_refuses_a_bomb_and_parses_the_rest(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "inputs"
    bomb = declared_png(inputs / "bomb.png", 60000, 60000)
    _photo(inputs / "photo.png")
    out = tmp_path / "out"
    assert main(["predict", "--model", str(toy_model_dir), str(inputs), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bomb}: image is 60000x60000 pixels" in err and "over the limit of 180,000,000" in err
    assert "Traceback" not in err and "DecompressionBomb" not in err
    assert (out / "photo.png").is_file() and not (out / "bomb.png").exists()
    # The limit is the command's to set.
    assert main(["predict", "--model", str(toy_model_dir), str(inputs / "photo.png"), "--out", str(out),
                 "--max-pixels", "1000"]) == 1
    assert "over the limit of 1,000" in capsys.readouterr().err


def test_data_check_reports_a_bomb_as_a_problem_of_its_file(tmp_path: Path, capsys) -> None:
    root = tmp_path / "ccp"
    (root / "labels").mkdir(parents=True)
    for stem in ("0001", "0002"):
        _photo(root / "images" / f"{stem}.jpg")
        Image.fromarray(np.zeros((30, 40), np.uint8)).save(root / "labels" / f"{stem}.png")
    bomb = declared_png(root / "images" / "0002.jpg", 60000, 60000)
    assert main(["data", "check", "--format", "ccp", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{bomb}: image is 60000x60000 pixels" in out and "Checked 2 images and 2 labels" in out
    assert "1 problem." in out


def test_truncated_video_is_reported_with_both_counts(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    whole, cut = tmp_path / "whole.avi", tmp_path / "cut.avi"
    _video(whole, frames=10)
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main(["predict", "--model", str(toy_model_dir), str(whole), "--out", str(out)]) == 0
    assert json.loads((out / "whole.json").read_text())["frames"] == 10

    assert main(["predict", "--model", str(toy_model_dir), str(cut), "--out", str(out)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if str(cut) in line]
    assert len(lines) == 1 and "video cut short" in lines[0]
    summary = json.loads((out / "cut.json").read_text())
    assert 0 < summary["frames"] < 10 and summary["frames_declared"] == 10
    assert f"{summary['frames']} of the 10 frames" in lines[0]
    assert (out / "cut_overlay.mp4").is_file()  # what was read is still written


def test_video_over_the_pixel_limit_is_refused_before_its_frames(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    clip = tmp_path / "clip.avi"
    _video(clip, frames=2)
    out = tmp_path / "out"
    assert main(["predict", "--model", str(toy_model_dir), str(clip), "--out", str(out), "--max-pixels", "1199"]) == 1
    assert f"{clip}: video frame is 40x30 pixels (W x H, 1,200 in all), over the limit of 1,199" in capsys.readouterr().err
    assert not (out / "clip.json").exists()
