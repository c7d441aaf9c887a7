"""``humanparse predict``: outputs per image and video, name clashes, and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import ToyParser, fill_disk_after, leftovers
from humanparse.cli import main
from humanparse.errors import UsageError
from humanparse.inference.predict import run_predict
from humanparse.inference.model_file import save_model
from humanparse.schemas import LIP, PASCAL_PERSON_PART


def _photo(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Smooth colour gradients plus noise: several classes, compresses like a photo."""
    h, w = shape
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([255 * x / w, 255 * y / h, 255 * (1 - x / w)], axis=-1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def _write_jpeg(path: Path, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = _photo(shape, seed)
    Image.fromarray(image).save(path, quality=95)
    return image


def _write_video(path: Path, frames: int = 3, shape: tuple[int, int] = (30, 40)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (shape[1], shape[0]))
    assert writer.isOpened(), "this OpenCV build cannot write mp4 videos"
    for i in range(frames):
        writer.write(cv2.cvtColor(_photo(shape, i), cv2.COLOR_RGB2BGR))
    writer.release()


def _check_image_outputs(out: Path, name: str, image_path: Path, shape: tuple[int, int]) -> None:
    schema = PASCAL_PERSON_PART
    with Image.open(out / f"{name}.png") as label_png:
        assert label_png.mode == "P"
        assert label_png.getpalette()[: 3 * schema.num_classes] == [c for rgb in schema.palette for c in rgb]
        labels = np.asarray(label_png)
    assert labels.shape == shape and labels.max() < schema.num_classes
    with Image.open(out / f"{name}_overlay.jpg") as overlay:
        assert overlay.size == (2 * shape[1], shape[0])  # the original beside the overlay
    summary = json.loads((out / f"{name}.json").read_text())
    assert summary["image"] == str(image_path)
    assert summary["size"] == list(shape)
    assert summary["schema"] == schema.name
    assert sum(summary["classes"].values()) == shape[0] * shape[1]
    assert set(summary["classes"]) <= set(schema.classes)
    # Areas are the label PNG's own pixel counts.
    for cls, area in summary["classes"].items():
        assert int((labels == schema.classes.index(cls)).sum()) == area


def test_folder_with_corrupt_image_and_video(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "inputs"
    _write_jpeg(inputs / "person.jpg", (45, 37))
    good = (inputs / "person.jpg").read_bytes()
    (inputs / "broken.jpg").write_bytes(good[: len(good) // 2])
    _write_video(inputs / "clip.mp4")
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"

    code = run_predict(toy_model_dir, [inputs], out, progress=False)

    assert code == 1
    err = capsys.readouterr().err
    assert str(inputs / "broken.jpg") in err and "truncated" in err
    _check_image_outputs(out, "person", inputs / "person.jpg", (45, 37))
    assert not (out / "broken.png").exists() and not (out / "broken.json").exists()

    video = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        frames.append(frame)
    video.release()
    assert len(frames) == 3 and frames[0].shape == (30, 80, 3)
    summary = json.loads((out / "clip.json").read_text())
    assert summary["frames"] == 3 and summary["size"] == [30, 40]
    assert sum(summary["classes"].values()) == 3 * 30 * 40
    assert all(sum(f["classes"].values()) == 30 * 40 for f in summary["per_frame"])
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


def test_cli_predict_reports_the_bad_file_and_exit_code(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "photos"
    _write_jpeg(inputs / "a.jpg", (40, 30))
    (inputs / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "parsed"
    code = main(["predict", "--model", str(toy_model_dir), str(inputs), "--out", str(out), "--batch-size", "2",
                 "--scales", "1.0", "0.75", "--flip", "--probabilities"])
    assert code == 1
    assert str(inputs / "b.jpg") in capsys.readouterr().err
    _check_image_outputs(out, "a", inputs / "a.jpg", (40, 30))
    assert (out / "a_prob.npy").is_file()
    assert json.loads((out / "a.json").read_text())["test_time"] == {"scales": [1.0, 0.75], "flip": True}


def test_all_good_inputs_exit_zero_and_write_probabilities(toy_model_dir: Path, tmp_path: Path) -> None:
    image_path = tmp_path / "a.jpg"
    _write_jpeg(image_path, (33, 50))
    out = tmp_path / "out"
    assert run_predict(toy_model_dir, [image_path], out, save_probabilities=True, scales=[1.0, 0.75], flip=True, progress=False) == 0
    _check_image_outputs(out, "a", image_path, (33, 50))
    probs = np.load(out / "a_prob.npy")
    assert probs.dtype == np.float16 and probs.shape == (PASCAL_PERSON_PART.num_classes, 33, 50)
    assert np.allclose(probs.astype(np.float32).sum(0), 1.0, atol=1e-2)
    with Image.open(out / "a.png") as label_png:
        # float16 rounding may tie two near-equal classes; everywhere else they agree.
        assert (np.asarray(label_png) == probs.argmax(0)).mean() > 0.99
    summary = json.loads((out / "a.json").read_text())
    assert summary["test_time"] == {"scales": [1.0, 0.75], "flip": True}


def test_same_names_from_different_places_do_not_overwrite(toy_model_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "x" / "1.jpg", tmp_path / "y" / "1.jpg"
    _write_jpeg(first, (20, 24), seed=1)
    _write_jpeg(second, (28, 22), seed=2)
    _write_jpeg(tmp_path / "folder" / "sub" / "1.jpg", (26, 26), seed=3)
    out = tmp_path / "out"
    assert run_predict(toy_model_dir, [first, second, tmp_path / "folder"], out, progress=False) == 0
    images = {json.loads(p.read_text())["image"] for p in out.rglob("*.json")}
    assert images == {str(first), str(second), str(tmp_path / "folder" / "sub" / "1.jpg")}
    # A folder's images keep their path inside it.
    _check_image_outputs(out / "sub", "1", tmp_path / "folder" / "sub" / "1.jpg", (26, 26))


def test_missing_input_and_unreadable_video_are_reported(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    _write_jpeg(tmp_path / "ok.jpg", (20, 20))
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 10)
    out = tmp_path / "out"
    code = run_predict(toy_model_dir, [tmp_path / "nope.jpg", tmp_path / "bad.mp4", tmp_path / "ok.jpg"], out, progress=False)
    assert code == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope.jpg'}: does not exist" in err
    assert f"{tmp_path / 'bad.mp4'}: unreadable video" in err
    assert (out / "ok.png").is_file()
    assert not (out / "bad_overlay.mp4").exists()


def test_outputs_inside_the_input_folder_are_not_read_back(toy_model_dir: Path, tmp_path: Path) -> None:
    _write_jpeg(tmp_path / "imgs" / "p.jpg", (20, 20))
    out = tmp_path / "imgs" / "pred"
    assert run_predict(toy_model_dir, [tmp_path / "imgs"], out, progress=False) == 0
    assert run_predict(toy_model_dir, [tmp_path / "imgs"], out, progress=False) == 0
    assert sorted(p.name for p in out.iterdir()) == ["p.json", "p.png", "p_overlay.jpg"]


def test_cuda_without_gpu_is_a_clear_error(toy_model_dir: Path, tmp_path: Path, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    _write_jpeg(tmp_path / "ok.jpg", (20, 20))
    with pytest.raises(UsageError, match="no CUDA GPU"):
        run_predict(toy_model_dir, [tmp_path / "ok.jpg"], tmp_path / "out", device="cuda", progress=False)
    # The command line prints it as one line and exits 2.
    assert main(["predict", "--model", str(toy_model_dir), str(tmp_path / "ok.jpg"), "--out", str(tmp_path / "o"),
                 "--device", "cuda"]) == 2
    assert "humanparse: error: device 'cuda' asked for, but no CUDA GPU" in capsys.readouterr().err


def test_real_lip_photo(shared_data: Path, toy_model: str, tmp_path: Path) -> None:
    model = save_model(tmp_path / "lip_model", ToyParser(LIP.num_classes).eval(), {"name": toy_model, "num_classes": 20},
                       LIP, (64, 64))
    photo = min((shared_data / "lip_cihp_samples" / "lip" / "images").glob("*.jpg"))
    out = tmp_path / "out"
    assert run_predict(model, [photo], out, flip=True, progress=False) == 0
    with Image.open(photo) as original:
        width, height = original.size
    summary = json.loads((out / f"{photo.stem}.json").read_text())
    assert summary["size"] == [height, width] and summary["schema"] == "lip"
    assert sum(summary["classes"].values()) == height * width


def test_a_full_disk_leaves_earlier_outputs_whole_and_says_so(toy_model_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    _write_jpeg(photo, (40, 30))
    out = tmp_path / "out"
    assert run_predict(toy_model_dir, [photo], out, progress=False) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fill_disk_after(monkeypatch, room=64)
    code = main(["predict", "--model", str(toy_model_dir), str(photo), "--out", str(out), "--flip"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"humanparse: error: {out / 'a.png'}: could not be written (No space left" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(out) == []


def test_large_photos_are_not_batched_together(monkeypatch, tmp_path: Path) -> None:
    import humanparse.inference.predict as predict_module
    from humanparse.inference.predict import PredictInput, _read_batches

    items = []
    for i, shape in enumerate([(40, 30), (40, 30), (10, 10), (80, 60), (10, 10)]):
        _write_jpeg(tmp_path / f"{i}.jpg", shape, seed=i)
        items.append(PredictInput(tmp_path / f"{i}.jpg", str(i), False))
    monkeypatch.setattr(predict_module, "BATCH_PIXELS", 2500)
    batches = [[item.name for item, _ in batch] for batch in _read_batches(items, batch_size=4)]
    # 1200 + 1200 + 100 pixels fit; the 4800-pixel photo goes alone, over the budget by itself.
    assert batches == [["0", "1", "2"], ["3"], ["4"]]
    assert [[i.name for i, _ in b] for b in _read_batches(items, batch_size=2)] == [["0", "1"], ["2"], ["3"], ["4"]]
