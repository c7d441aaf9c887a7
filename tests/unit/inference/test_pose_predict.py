"""Joints at prediction time: test-time augmentation of heatmaps, predict's outputs, ONNX."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import humanparse.models
from humanparse.cli import main
from humanparse.data.heatmaps import heatmap_size, keypoint_targets
from humanparse.data.sample import VISIBLE
from humanparse.data.transforms import affine_matrix, transform_points
from humanparse.inference.predictor import Predictor
from humanparse.models import ModelOutput, build_model
from humanparse.inference.model_file import load_model, save_model
from humanparse.schemas import LIP, LIP_JOINTS

LEFT = {a for a, _ in LIP_JOINTS.flip_pairs}
RIGHT = {b for _, b in LIP_JOINTS.flip_pairs}


class DotFinder(nn.Module):
    """Heatmaps (stride 2) that peak on coloured dots, left/right-symmetric in the sense that
    matters for flip: a left joint looks for red in the right half of the input and green in
    the left half, its right partner for the opposite, a centre joint for red anywhere; so the
    output for the mirrored input is the mirrored output with partners swapped. Skipping the
    swap puts a left joint on the green dot, which the tests would see."""

    output_stride = 2

    def __init__(self, num_joints: int = 16) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.unused = nn.Parameter(torch.zeros(()))  # a module with no parameters has no device

    def forward(self, x: torch.Tensor) -> ModelOutput:
        blurred = F.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
        # colour c minus the mean colour, so grey (equal channels) scores low
        score = F.avg_pool2d(blurred - blurred.mean(1, keepdim=True), 2)
        red, green = score[:, 0], score[:, 1]
        w = red.shape[-1]
        right_half = (torch.arange(w, device=x.device) > (w - 1) / 2).float()
        left_joint = red * right_half + green * (1 - right_half)
        right_joint = red * (1 - right_half) + green * right_half
        maps = [left_joint if k in LEFT else right_joint if k in RIGHT else red for k in range(self.num_joints)]
        return ModelOutput(heatmaps=torch.exp(3 * torch.stack(maps, 1)) + 0 * self.unused)


class GaussianAt(nn.Module):
    """Exact stride-8 Gaussian heatmaps at fixed input-pixel positions: what a perfect pose net gives."""

    output_stride = 8

    def __init__(self, points: torch.Tensor) -> None:
        super().__init__()
        self.points = points
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        kp = torch.cat([self.points, torch.full_like(self.points[:, :1], VISIBLE)], -1)[None].repeat(len(x), 1, 1)
        maps, _ = keypoint_targets(kp, heatmap_size(tuple(x.shape[-2:]), 8), 8, sigma=8.0)
        return ModelOutput(heatmaps=maps + 0 * self.unused)


def dot_image(size: tuple[int, int], red: tuple[float, float], green: tuple[float, float]) -> np.ndarray:
    """A grey image with a small red and a small green blob at (x, y) positions."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.full((h, w, 3), 128.0)
    for (x, y), channel in ((red, 0), (green, 1)):
        blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
        image[..., channel] += 120 * blob
        image[..., [c for c in range(3) if c != channel]] -= 60 * blob[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scales,flip", [((1.0,), False), ((1.0,), True), ((0.75, 1.0, 1.25), True)])
def test_predicted_joints_land_on_the_dots_at_original_resolution(scales, flip):
    # letterboxed into 64x64; both dots lie in the right half of the network input
    image = dot_image((50, 70), red=(50.3, 30.6), green=(47.8, 12.2))
    predictor = Predictor(DotFinder(), LIP, (64, 64), scales=scales, flip=flip, joint_schema=LIP_JOINTS)
    joints = predictor.predict_joints([image])[0]
    assert joints.shape == (16, 3)
    for k in range(16):
        expected = (47.8, 12.2) if k in RIGHT else (50.3, 30.6)  # right joints: green on the right
        assert np.hypot(joints[k, 0] - expected[0], joints[k, 1] - expected[1]) < 1.0, (k, joints[k], expected)
    prediction = predictor.predict([image])[0]
    assert prediction.labels is None  # a pose-only model parses nothing
    with pytest.raises(ValueError, match="joints only"):
        predictor.predict_logits([image])


def test_flip_is_exact_for_a_symmetric_pose_model():
    image = dot_image((64, 64), red=(44.0, 30.0), green=(40.0, 10.0))
    plain = Predictor(DotFinder(), LIP, (64, 64), joint_schema=LIP_JOINTS)
    flipped = Predictor(DotFinder(), LIP, (64, 64), flip=True, joint_schema=LIP_JOINTS)
    maps_plain, c = plain._predict_maps([image])
    maps_flip, _ = flipped._predict_maps([image])
    # The mirrored view, swapped back by the schema and mirrored back, is the plain view
    # again, so averaging changes nothing (without the swap, left joints would see green).
    assert c.classes == 0
    assert torch.allclose(maps_plain[0], maps_flip[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("image_size,input_size", [((384, 384), (384, 384)), ((300, 420), (321, 321)),
                                                   ((500, 350), (384, 384))])
def test_decoding_through_the_predictor_is_sub_pixel(image_size, input_size):
    # Upsampled stride-8 maps are refined over their coarse cells, and cell j sits on input
    # pixel 8 j + 3.5 as in training even where the input is not a multiple of 8 (321).
    h, w = image_size
    rng = np.random.default_rng(0)
    original = np.stack([rng.uniform(40, w - 40, 16), rng.uniform(40, h - 40, 16)], axis=-1)
    on_input = torch.tensor(transform_points(original, affine_matrix(image_size, input_size)), dtype=torch.float32)
    predictor = Predictor(GaussianAt(on_input), LIP, input_size, joint_schema=LIP_JOINTS)
    joints = predictor.predict_joints([np.zeros((h, w, 3), np.uint8)])[0]
    error = np.hypot(*(joints[:, :2] - original).T)
    assert error.max() < 0.6, error


@pytest.mark.parametrize("box", [(130.0, 40.0, 250.0, 190.0), (-40.0, 150.0, 110.0, 330.0)])
def test_a_box_view_round_trips_joints_through_its_letterbox(box):
    # A person's joints at known pixels of a 300x400 image: the box (the second one reaching
    # past the image's left and bottom edges) is letterboxed into the input, the network puts
    # exact Gaussians on the joints there, and decoding over the box's window gives them back
    # in the image's pixels.
    size, input_size = (300, 400), (96, 96)
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = box
    original = np.stack([rng.uniform(max(x0, 0) + 25, x1 - 25, 16), rng.uniform(y0 + 25, min(y1, 300) - 25, 16)], -1)
    on_input = torch.tensor(transform_points(original, affine_matrix(size, input_size, box=box)), dtype=torch.float32)
    predictor = Predictor(GaussianAt(on_input), None, input_size, joint_schema=LIP_JOINTS)
    image = np.zeros((*size, 3), np.uint8)
    prediction = predictor.predict([image, image], boxes=[box, None])
    joints = prediction[0].joints
    error = np.hypot(*(joints[:, :2] - original).T)
    assert error.max() < 1.0, error
    # the maps of a box cover the window its view sees (the square input sees a square around
    # the box's centre), clipped to the image
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    expected = (math.floor(cx - half + 0.5), math.floor(cy - half + 0.5), math.ceil(cx + half + 0.5),
                math.ceil(cy + half + 0.5))
    assert prediction[0].window == (max(0, expected[0]), max(0, expected[1]), min(400, expected[2]),
                                    min(300, expected[3]))
    assert prediction[1].window == (0, 0, 400, 300)


def test_boxes_are_checked():
    predictor = Predictor(GaussianAt(torch.zeros(16, 2)), None, (32, 32), joint_schema=LIP_JOINTS)
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="one box"):
        predictor.predict([image], boxes=[])
    with pytest.raises(ValueError, match="box 0: expected"):
        predictor.predict([image], boxes=[(10, 10, 5, 20)])
    with pytest.raises(ValueError, match="outside the 40x40 image"):
        predictor.predict([image], boxes=[(50, 50, 80, 80)])


def test_predictor_needs_the_joint_schema_for_heatmaps():
    with pytest.raises(ValueError, match="joint schema"):
        Predictor(DotFinder(), LIP, (32, 32)).predict([dot_image((32, 32), (5, 5), (20, 20))])


@pytest.fixture
def jppnet_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    spec = {"name": "jppnet", "num_classes": 20, "num_joints": 16, "backbone": "resnet18", "base_width": 8,
            "refine_stages": 1, "scales": [1.0, 0.5]}
    model = build_model(spec).eval()
    return save_model(tmp_path / "model", model, spec, LIP, (48, 48), joint_schema=LIP_JOINTS,
                      extra={"test_time": {"scales": [1.0], "flip": True}})


def test_predict_writes_joints_json_lip_csv_and_skeleton_overlay(jppnet_dir, tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    for i, size in enumerate([(40, 30), (52, 61)]):
        Image.fromarray(dot_image(size, (10, 10), (20, 20))).save(images / f"p{i}.jpg", quality=95)
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    assert main(["predict", "--model", str(jppnet_dir), str(images), "--out", str(out)]) == 1  # the broken one
    for i, (h, w) in enumerate([(40, 30), (52, 61)]):
        summary = json.loads((out / f"p{i}.json").read_text())
        assert summary["joint_schema"] == "lip" and summary["schema"] == "lip"
        assert [j["name"] for j in summary["joints"]] == list(LIP_JOINTS.joints)
        assert all(-0.5 <= j["x"] <= w - 0.5 and -0.5 <= j["y"] <= h - 0.5 for j in summary["joints"])
        assert (out / f"p{i}.png").is_file()
        overlay = np.asarray(Image.open(out / f"p{i}_overlay.jpg"))
        assert overlay.shape == (h, 2 * w, 3)
    with open(out / "joints.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert sorted(r[0] for r in rows) == ["p0.jpg", "p1.jpg"]
    assert all(len(r) == 49 for r in rows)
    summary = json.loads((out / "p1.json").read_text())
    row = next(r for r in rows if r[0] == "p1.jpg")
    assert float(row[1]) == pytest.approx(summary["joints"][0]["x"], abs=0.01)
    assert float(row[2]) == pytest.approx(summary["joints"][0]["y"], abs=0.01)


def test_skeleton_is_drawn_on_the_overlay(monkeypatch, tmp_path):
    monkeypatch.setitem(humanparse.models.MODELS, "dot_finder", DotFinder)
    model_dir = save_model(tmp_path / "model", DotFinder(), {"name": "dot_finder", "num_joints": 16}, LIP, (64, 64),
                           joint_schema=LIP_JOINTS)
    image = dot_image((64, 64), red=(48.0, 40.0), green=(16.0, 20.0))
    Image.fromarray(image).save(tmp_path / "dots.png")
    out = tmp_path / "out"
    assert main(["predict", "--model", str(model_dir), str(tmp_path / "dots.png"), "--out", str(out)]) == 0
    assert not (out / "dots.png").exists()  # pose-only: no label map
    overlay = np.asarray(Image.open(out / "dots_overlay.jpg")).astype(int)
    left, right = overlay[:, :64], overlay[:, 64:]
    assert np.abs(left - image).max() < 40  # the original, up to JPEG
    # skeleton lines join the two dots: a line of pixels between them changed colour
    changed = np.abs(right - left).sum(-1) > 90
    assert changed.sum() > 30 and changed[25:35, 28:36].any()
    assert "classes" not in json.loads((out / "dots.json").read_text())


def test_saved_jppnet_keeps_its_joint_schema_and_exports_both_outputs(jppnet_dir, tmp_path):
    saved = load_model(jppnet_dir)
    assert saved.joint_schema == LIP_JOINTS
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "jpp.onnx"
    assert main(["export", str(jppnet_dir), "--onnx", str(onnx_path), "--verify"]) == 0
    sidecar = json.loads(onnx_path.with_suffix(".json").read_text())
    assert [o["name"] for o in sidecar["onnx"]["outputs"]] == ["logits", "heatmaps"]
    assert sidecar["onnx"]["outputs"][1]["shape"][:2] == ["batch", 16]


def test_network_scales_of_the_model_file_apply_at_test_time(tmp_path):
    spec = {"name": "jppnet", "num_classes": 20, "num_joints": 16, "backbone": "resnet18", "base_width": 8,
            "refine_stages": 0, "scales": [1.0, 0.5]}
    model = build_model(spec).eval()
    folder = save_model(tmp_path / "model", model, spec, LIP, (32, 32), joint_schema=LIP_JOINTS,
                        extra={"test_time": {"scales": [1.0], "flip": False, "network_scales": [0.75, 1.25]}})
    saved = load_model(folder)
    assert saved.model.scales == (1.0, 0.5)  # as trained, until a predictor applies the test-time ones
    Predictor.from_saved(saved)
    assert saved.model.scales == (0.75, 1.25)
    with pytest.raises(ValueError, match="joint_schema"):
        save_model(tmp_path / "bad", model, spec, LIP, (32, 32))


def test_evaluating_a_pose_model_needs_keypoints(tmp_path):
    from humanparse.data.synth import write_synthetic_dataset
    from humanparse.evaluation.evaluate import evaluate_model

    root = tmp_path / "synth"
    write_synthetic_dataset(root, 6, seed=1, size=(64, 64), val_fraction=0.5, clutter=0.0)
    spec = {"name": "pose_net", "num_joints": 16, "backbone": "resnet18", "base_width": 8}
    folder = save_model(tmp_path / "pose", build_model(spec).eval(), spec, LIP, (32, 32), joint_schema=LIP_JOINTS)
    data = {"format": "lip", "root": str(root), "schema": None, "val_split": "val", "val_ids": None}
    result = evaluate_model(folder, data, progress=False)
    assert result.scores is None and result.pose is not None and result.pose.summary().num_rows == 3
    for csv_file in root.glob("lip_*_set.csv"):
        csv_file.unlink()
    with pytest.raises(ValueError, match="no keypoints"):
        evaluate_model(folder, data, progress=False)


def test_real_lip_joints_survive_encoding_letterbox_and_decoding(shared_data):
    """A real LIP validation person (its official pose row): joints rendered as stride-8
    targets in the letterboxed 384x384 input come back to the image's own pixels, every
    annotated joint well inside the PCK threshold."""
    from humanparse.data.image_io import read_image
    from humanparse.data.pose_files import read_lip_pose_csv
    from humanparse.evaluation.pose_metrics import PCKAccumulator

    lip = shared_data / "lip_cihp_samples" / "lip"
    truth = read_lip_pose_csv(lip / "pose" / "lip_val_groundtruth.csv")["36_453991.jpg"]
    image = read_image(lip / "images" / "36_453991.jpg")
    annotated = np.isfinite(truth[:, 0])
    assert annotated.sum() >= 12  # the row has a few unannotated joints, which must not count
    on_input = transform_points(truth[:, :2], affine_matrix(image.shape[:2], (384, 384)))
    predictor = Predictor(GaussianAt(torch.tensor(on_input, dtype=torch.float32)), LIP, (384, 384),
                                 joint_schema=LIP_JOINTS)
    joints = predictor.predict_joints([image])[0]
    error = np.hypot(*(joints[annotated, :2] - truth[annotated, :2]).T)
    assert np.median(error) < 0.5 and error.max() < 1.5, error  # the worst joint lies at the image's edge
    accumulator = PCKAccumulator("lip")
    accumulator.update(joints[None, :, :2], truth[None])
    assert accumulator.summary().mean == pytest.approx(100.0)


class TwoPeople(nn.Module):
    """Stride-8 heatmaps of two people: every joint peaks at two input-pixel positions, the
    second person's peaks at 0.3 of the first's."""

    output_stride = 8

    def __init__(self, first: torch.Tensor, second: torch.Tensor) -> None:
        super().__init__()
        self.people = GaussianAt(first), GaussianAt(second)
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        a, b = (person(x).heatmaps for person in self.people)
        return ModelOutput(heatmaps=torch.maximum(a, 0.3 * b) + 0 * self.unused)


@pytest.mark.parametrize("band_rows", [None, 7])
def test_joint_candidates_find_both_people_in_original_pixels(monkeypatch, band_rows):
    import humanparse.inference.predictor as predictor_module

    if band_rows is not None:  # the peaks are found band by band, with context across the edges
        monkeypatch.setattr(predictor_module, "BAND_VALUES", band_rows * 16 * 200)
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(16, 2, generator=generator) * torch.tensor([40.0, 100.0]) + 8
    second = first + torch.tensor([70.0, 10.0])
    image = np.full((128, 128, 3), 100, np.uint8)
    predictor = Predictor(TwoPeople(first, second), None, (128, 128), joint_schema=LIP_JOINTS)
    candidates = predictor.predict_joint_candidates([image], threshold=0.1)[0]
    assert len(candidates) == 16
    for k, found in enumerate(candidates):
        assert found.dtype == np.float32 and found.shape == (2, 3)
        assert np.abs(found[0, :2] - first[k].numpy()).max() <= 0.5  # strongest first, sub-pixel
        assert np.abs(found[1, :2] - second[k].numpy()).max() <= 0.5
        assert found[0, 2] > 0.5 > 0.3 >= found[1, 2] > 0.1
    # the threshold drops the weaker person, the cap keeps the strongest
    assert all(len(c) == 1 for c in predictor.predict_joint_candidates([image], threshold=0.4)[0])
    assert all(len(c) == 1 for c in predictor.predict_joint_candidates([image], threshold=0.1, max_per_joint=1)[0])
    # the single-person decoding picks the stronger person
    assert np.abs(predictor.predict_joints([image])[0][:, :2] - first.numpy()).max() <= 0.5


def test_joint_candidates_of_a_parsing_only_model_are_an_error():
    class Parser(nn.Module):
        output_stride = 1

        def __init__(self) -> None:
            super().__init__()
            self.classify = nn.Conv2d(3, LIP.num_classes, 1)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(logits=self.classify(x))

    predictor = Predictor(Parser().eval(), LIP, (32, 32))
    with pytest.raises(ValueError, match="no joints"):
        predictor.predict_joint_candidates([np.zeros((32, 32, 3), np.uint8)])
    with pytest.raises(ValueError, match="max_per_joint"):
        predictor.predict_joint_candidates([np.zeros((32, 32, 3), np.uint8)], max_per_joint=0)
