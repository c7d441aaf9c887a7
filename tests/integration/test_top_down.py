"""Top-down evaluation on MPII's layout (the LIP paper's Table 10 protocol): every person its own
view, joints mapped from LIP's schema into MPII's, PCKh against each person's head box.

The model here reads joints off the image: each joint is a disc of its own colour (red = 15 (j +
1), green = 255 on black; red / green survives bilinear resampling against black), and the model
puts a blurred mask of that colour in the joint's heatmap, so its heatmaps peak on the true joint
in crop coordinates. With ``shift`` they peak that many input pixels to the right instead: in the
image that is shift / zoom pixels, zoom = input side / box side, which decides by hand which people
are still within half their PCKh reference.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import humanparse.models
from helpers import CONFIGS
from humanparse.cli import main
from humanparse.inference.model_file import save_model
from humanparse.models import ModelOutput
from humanparse.schemas import LIP_JOINTS, MPII_JOINTS

INPUT = 96
RADIUS = 0.03  # of the box side


class MarkerFinder(nn.Module):
    """Heatmaps at stride 1 that peak on the disc of each joint's colour, ``shift`` pixels to the right."""

    output_stride = 1

    def __init__(self, num_joints: int = 16, shift: int = 0) -> None:
        super().__init__()
        self.num_joints, self.shift = num_joints, shift
        self.unused = nn.Parameter(torch.zeros(()))
        g = torch.exp(-torch.arange(-4, 5, dtype=torch.float32) ** 2 / (2 * 1.5**2))
        self.register_buffer("kernel", (g[:, None] * g[None, :] / g.sum() ** 2)[None, None].repeat(num_joints, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        red, green = x[:, 0], x[:, 1]  # the model file's mean 0 and std 1: x is the image / 255
        ratio = red / green.clamp_min(1e-3)
        values = 15.0 * torch.arange(1, self.num_joints + 1, device=x.device) / 255.0
        masks = ((green[:, None] > 0.5) & ((ratio[:, None] - values[None, :, None, None]).abs() < 7 / 255)).float()
        maps = F.conv2d(masks, self.kernel, padding=4, groups=self.num_joints)
        if self.shift:
            maps = torch.roll(maps, self.shift, dims=-1)
        return ModelOutput(heatmaps=maps + 0 * self.unused)


# (image, image size (h, w), centre (x, y, 0-based), scale, head-box side, joints not annotated)
PEOPLE = [
    ("two.png", (260, 520), (110.0, 120.0), 0.8, 30.0, ()),
    ("two.png", (260, 520), (400.0, 115.0), 0.8, 15.0, ()),
    ("small.png", (200, 240), (118.0, 90.0), 0.5, 20.0, (0, 5)),  # no ankles
    ("large.png", (300, 320), (160.0, 130.0), 1.0, 17.0, ()),
    ("absent.png", (200, 200), (100.0, 100.0), 0.5, 20.0, ()),  # its image is not on disk
]


def joint_positions(centre: tuple[float, float], scale: float, seed: int) -> np.ndarray:
    """16 joints on a jittered 4x4 grid over the middle of the person's box."""
    side = 250 * scale
    cx, cy = centre[0], centre[1] + 15 * scale
    rng = np.random.default_rng(seed)
    step = 0.7 * side / 4
    grid = np.array([(cx + step * (i - 1.5), cy + step * (j - 1.5)) for j in range(4) for i in range(4)])
    return grid + rng.uniform(-2, 2, grid.shape)


def write_mpii(root: Path, people=PEOPLE) -> list[dict]:
    """The people as mmpose's MPII layout: images (discs per joint), annotations/mpii_val.json
    and the ground truth annotations/mpii_gt_val.mat (1-based, as MPII's)."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    canvases: dict[str, np.ndarray] = {}
    entries, truth = [], []
    for index, (name, size, centre, scale, head, missing) in enumerate(people):
        joints = joint_positions(centre, scale, index)
        annotated = np.array([j not in missing for j in range(16)])
        canvas = canvases.setdefault(name, np.zeros((*size, 3), np.uint8))
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        for j, (x, y) in enumerate(joints):
            if annotated[j]:
                disc = (xx - x) ** 2 + (yy - y) ** 2 <= (RADIUS * 250 * scale) ** 2
                canvas[disc] = (15 * (j + 1), 255, 0)
        box_x, box_y = joints[8]
        headbox = np.array([[box_x - head / 2, box_y - head / 2], [box_x + head / 2, box_y + head / 2]])
        entries.append({
            "image": name, "joints": np.where(annotated[:, None], joints + 1, -1.0).tolist(),
            "joints_vis": annotated.astype(int).tolist(), "center": [centre[0] + 1, centre[1] + 1], "scale": scale,
        })
        truth.append((joints, annotated, headbox))
    for name, canvas in canvases.items():
        if name != "absent.png":
            Image.fromarray(canvas).save(root / "images" / name)
    (root / "annotations" / "mpii_val.json").write_text(json.dumps(entries))
    scipy.io.savemat(root / "annotations" / "mpii_gt_val.mat", {
        "pos_gt_src": np.stack([np.where(a[:, None], j + 1, 0) for j, a, _ in truth], -1),
        "jnt_missing": np.stack([~a for _, a, _ in truth], -1).astype(np.uint8),
        "headboxes_src": np.stack([h + 1 for _, _, h in truth], -1),
    })
    return entries


@pytest.fixture
def marker_model(monkeypatch, tmp_path):
    monkeypatch.setitem(humanparse.models.MODELS, "marker_finder", MarkerFinder)

    def make(shift: int) -> Path:
        spec = {"name": "marker_finder", "num_joints": 16, "shift": shift}
        return save_model(tmp_path / f"model_{shift}", MarkerFinder(shift=shift), spec, None, (INPUT, INPUT),
                          mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), joint_schema=LIP_JOINTS)

    return make


def evaluate(model: Path, root: Path, out: Path, *extra: str) -> dict:
    assert main(["evaluate", "--model", str(model), "--format", "mpii", "--root", str(root), "--split", "val",
                 "--top-down", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("scales", [(), ("--scales", "0.75", "1", "1.25")])
def test_a_model_that_finds_every_joint_scores_100(marker_model, tmp_path, capsys, scales):
    # with several zooms the views of a box see more or less than the box; all land on the joints
    root = tmp_path / "mpii"
    write_mpii(root)
    scores = evaluate(marker_model(0), root, tmp_path / "scores.json", *scales)
    assert scores["schema"] == "mpii" and scores["model_joint_schema"] == "lip"
    assert scores["mean"] == pytest.approx(100.0)
    assert all(v == pytest.approx(100.0) for v in scores["per_joint"].values())
    # four people scored, each alone; the fifth's image is missing and said to be
    assert scores["top_down"]["people"] == 4 and scores["top_down"]["people_without_image"] == 1
    assert scores["annotated"]["r_ankle"] == 3 and scores["annotated"]["head_top"] == 4
    printed = capsys.readouterr()
    assert "1 more people not scored: their 1 image files are not on disk" in printed.out
    assert "lip joints scored as mpii: 16 copied by name" in printed.err
    header = next(line for line in printed.out.splitlines() if line.strip().startswith("Head")).split()
    assert header == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]  # Table 10's columns
    assert "in the columns of the model's joint schema lip: Head = upper_neck and head_top" in printed.out


def test_an_offset_model_scores_the_hand_computed_pckh(marker_model, tmp_path):
    root = tmp_path / "mpii"
    write_mpii(root)
    shift = 4
    scores = evaluate(marker_model(shift), root, tmp_path / "scores.json")
    # Worked out by hand: person p misses each joint by shift / zoom pixels (zoom = 96 / (250 s))
    # and is within PCKh@0.5 when that is <= 0.5 x 0.6 x head-box diagonal.
    passes = []
    for _, _, _, scale, head, _ in PEOPLE[:4]:
        error = shift * 250 * scale / INPUT
        passes.append(error <= 0.5 * 0.6 * head * math.sqrt(2))
    assert passes == [True, False, True, False]  # 8.3 vs 12.7, 8.3 vs 6.4, 5.2 vs 8.5, 10.4 vs 7.2 px
    scored = [j for j in range(16) if j not in MPII_JOINTS.mean_excluded]
    annotated = [[j for j in scored if j not in missing] for *_, missing in PEOPLE[:4]]
    total = 100 * sum(len(a) for a, ok in zip(annotated, passes) if ok) / sum(len(a) for a in annotated)
    assert total == pytest.approx(100 * 26 / 54)
    assert scores["mean"] == pytest.approx(total, abs=1e-6)
    assert scores["per_joint"]["r_ankle"] == pytest.approx(100 / 3)  # annotated on people 0, 1, 3; 0 passes
    assert scores["per_joint"]["head_top"] == pytest.approx(50.0)
    assert scores["table"]["Head"] == pytest.approx(50.0) and scores["table_in_model_schema"]["Head"] == pytest.approx(50.0)


def test_the_shipped_protocol_config_scores_top_down(marker_model, tmp_path):
    root = tmp_path / "mpii"
    write_mpii(root)
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--model", str(marker_model(0)), "--config", str(CONFIGS / "mpii" / "top_down_pckh.yaml"),
                 "--root", str(root), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["top_down"]["people"] == 4


def test_pckh_without_head_boxes_is_one_clear_error(marker_model, tmp_path, capsys):
    root = tmp_path / "mpii"
    write_mpii(root)
    (root / "annotations" / "mpii_gt_val.mat").unlink()
    assert main(["evaluate", "--model", str(marker_model(0)), "--format", "mpii", "--root", str(root),
                 "--split", "val", "--top-down"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mpii_val.json: joint schema 'mpii' scores PCKh against head boxes" in err[0]
    assert "--headboxes" in err[0]


def test_a_parsing_and_pose_model_is_scored_on_its_joints_alone(tmp_path):
    # JPPNet predicts labels too; MPII has none to score them by, so only its joints count,
    # whole images or top-down.
    from humanparse.models import build_model
    from humanparse.schemas import LIP

    root = tmp_path / "mpii"
    write_mpii(root, PEOPLE[:4])  # whole-image evaluation needs every image
    spec = {"name": "jppnet", "num_classes": 20, "num_joints": 16, "backbone": "resnet18", "base_width": 8,
            "refine_stages": 1, "scales": [1.0]}
    torch.manual_seed(0)
    model = save_model(tmp_path / "jpp", build_model(spec).eval(), spec, LIP, (64, 64), joint_schema=LIP_JOINTS)
    for extra in ((), ("--top-down",)):
        out = tmp_path / "scores.json"
        assert main(["evaluate", "--model", str(model), "--format", "mpii", "--root", str(root), "--split", "val",
                     "--json", str(out), *extra]) == 0
        scores = json.loads(out.read_text())
        assert "miou" not in scores and scores["schema"] == "mpii" and 0 <= scores["mean"] <= 100
        assert ("top_down" in scores) == bool(extra)


@pytest.mark.shared_data
def test_top_down_on_the_real_mpii_people(shared_data, marker_model, tmp_path, capsys):
    # Only five MPII images are here (mmpose's samples: the validation ground truth's first five
    # people): the protocol runs on those and scores exactly their annotated joints.
    samples = shared_data / "pose" / "mmpose_samples" / "mpii"
    mat = shared_data / "pose" / "mpii_val_gt" / "detections_our_format.mat"
    if not (samples / "test_mpii.json").is_file() or not mat.is_file():
        pytest.skip(f"MPII samples or ground truth missing under {shared_data / 'pose'}")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--model", str(marker_model(0)), "--format", "mpii", "--root", str(samples / "test_mpii.json"),
                 "--headboxes", str(mat), "--top-down", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["top_down"]["people"] == 5 and scores["top_down"]["people_without_image"] == 0
    missing = scipy.io.loadmat(mat)["jnt_missing"][:, :5]
    expected = {name: int((missing[j] == 0).sum()) for j, name in enumerate(MPII_JOINTS.joints)}
    assert scores["annotated"] == expected
    assert 0.0 <= scores["mean"] <= 100.0
