from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import MPII_README_MEAN, MPII_README_PCKH
from humanparse.cli import main
from humanparse.data.image_io import DataError, read_label, write_label_png
from humanparse.data.pose_files import read_mpii_gt_mat
from humanparse.evaluation.score import run_score_parsing, run_score_pose
from humanparse.schemas import get_label_schema

CCP_STEMS = [f"{i:04d}" for i in range(701, 731)]


# -- parsing: CCP labels against perturbed copies ------------------------------------


def _perturb(label: np.ndarray, rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """A plausible wrong prediction: a shifted region, two classes swapped in the lower
    half, and blobs of random classes (some never in CCP's ground truth)."""
    pred = label.copy()
    h, w = pred.shape
    top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
    region = (slice(top, top + h // 3), slice(left, left + w // 3))
    pred[region] = np.roll(pred[region], (int(rng.integers(5, 30)), int(rng.integers(-30, 30))), axis=(0, 1))
    present = np.unique(label)
    if present.size >= 2:
        a, b = rng.choice(present, 2, replace=False)
        lower = pred[h // 2 :]
        swapped = lower.copy()
        swapped[lower == a], swapped[lower == b] = b, a
        pred[h // 2 :] = swapped
    yy, xx = np.mgrid[:h, :w]
    for _ in range(4):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(10, 60)
        pred[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, num_classes)
    return pred


@pytest.fixture(scope="module")
def ccp_pair(shared_data, tmp_path_factory):
    """30 CCP labels (with an ignored band written into some) and perturbed predictions."""
    schema = get_label_schema("ccp")
    root = tmp_path_factory.mktemp("ccp_scoring")
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    rng = np.random.default_rng(7)
    for i, stem in enumerate(CCP_STEMS):
        label = read_label(shared_data / "ccp" / "labels" / f"{stem}.png", num_classes=schema.num_classes)
        pred = _perturb(label, rng, schema.num_classes)
        if i % 3 == 0:
            label = label.copy()
            label[:40] = 255
        Image.fromarray(label, mode="L").save(gt_dir / f"{stem}.png")
        write_label_png(pred_dir / f"{stem}.png", pred, schema.flat_palette())
    return gt_dir, pred_dir


def _naive_scores(gt_dir: Path, pred_dir: Path, num_classes: int, absent: str) -> dict:
    """Independent reference: per-class pixel counting with plain loops, no confusion matrix."""
    tp = [0] * num_classes
    gt_count = [0] * num_classes
    pred_count = [0] * num_classes
    areas = []
    for gt_path in sorted(gt_dir.glob("*.png")):
        g = np.asarray(Image.open(gt_path))
        p = np.asarray(Image.open(pred_dir / gt_path.name))
        counted = g != 255
        areas.append(int(np.count_nonzero(counted & (g != 0))))
        for c in range(num_classes):
            tp[c] += int(np.count_nonzero((g == c) & (p == c)))
            gt_count[c] += int(np.count_nonzero(g == c))
            pred_count[c] += int(np.count_nonzero((p == c) & counted))
    accuracies, ious = [], []
    for c in range(num_classes):
        union = gt_count[c] + pred_count[c] - tp[c]
        if absent == "skip":
            accuracies.append(tp[c] / gt_count[c] if gt_count[c] > 0 else None)
            ious.append(tp[c] / union if union > 0 else None)
        else:
            accuracies.append(tp[c] / max(1, gt_count[c]))
            ious.append(tp[c] / max(1, union))
    total = sum(gt_count)
    fw = 0.0
    for c in range(num_classes):
        if gt_count[c] > 0:
            fw += gt_count[c] / total * ious[c]
    used_acc = [a for a in accuracies if a is not None]
    used_iou = [v for v in ious if v is not None]
    return {
        "pixel_accuracy": 100 * sum(tp) / total,
        "mean_accuracy": 100 * sum(used_acc) / len(used_acc),
        "miou": 100 * sum(used_iou) / len(used_iou),
        "fwiou": 100 * fw,
        "per_class_iou": [None if v is None else 100 * v for v in ious],
        "areas": areas,
    }


@pytest.mark.parametrize("absent", ["skip", "zero"])
def test_parsing_scores_match_naive_counting(ccp_pair, tmp_path, absent, capsys):
    gt_dir, pred_dir = ccp_pair
    schema = get_label_schema("ccp")
    expected = _naive_scores(gt_dir, pred_dir, schema.num_classes, absent)
    out = tmp_path / "scores.json"
    assert run_score_parsing(gt_dir, pred_dir, "ccp", str(out), absent) == 0
    printed = capsys.readouterr().out
    assert f"absent classes: {absent}" in printed and "mIoU" in printed
    scores = json.loads(out.read_text())
    for key in ("pixel_accuracy", "mean_accuracy", "miou", "fwiou"):
        assert scores[key] == pytest.approx(expected[key], abs=1e-9), key
    assert list(scores["per_class_iou"]) == list(schema.classes)
    for name, value in zip(schema.classes, expected["per_class_iou"]):
        if value is None:
            assert scores["per_class_iou"][name] is None, name
        else:
            assert scores["per_class_iou"][name] == pytest.approx(value, abs=1e-9), name
    # The perturbation predicts classes CCP never labels, so the conventions must differ.
    assert 0 < scores["miou"] < 100 and scores["num_images"] == len(CCP_STEMS)
    buckets = {"small": 0, "medium": 0, "large": 0}
    for area in expected["areas"]:
        buckets["small" if area < 153**2 else "medium" if area < 321**2 else "large"] += 1
    assert {b: v["num_images"] for b, v in scores["size_breakdown"].items()} == buckets


def test_parsing_through_the_cli_and_conventions_differ(ccp_pair, tmp_path):
    gt_dir, pred_dir = ccp_pair
    results = {}
    for absent in ("skip", "zero"):
        out = tmp_path / f"{absent}.json"
        argv = ["score", "parsing", "--gt", str(gt_dir), "--pred", str(pred_dir), "--schema", "ccp",
                "--json", str(out), "--absent", absent]
        assert main(argv) == 0
        results[absent] = json.loads(out.read_text())
        expected = _naive_scores(gt_dir, pred_dir, 59, absent)
        assert results[absent]["miou"] == pytest.approx(expected["miou"], abs=1e-9)
    # Classes absent from both count as 0 only under "zero".
    assert results["zero"]["miou"] < results["skip"]["miou"]
    assert results["zero"]["pixel_accuracy"] == pytest.approx(results["skip"]["pixel_accuracy"])
    assert None in results["skip"]["per_class_iou"].values()
    assert None not in results["zero"]["per_class_iou"].values()


def _tiny_label_dirs(tmp_path: Path) -> tuple[Path, Path]:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for stem in ("a", "b"):
        Image.fromarray(np.zeros((4, 6), np.uint8), mode="L").save(gt_dir / f"{stem}.png")
    return gt_dir, pred_dir


def test_parsing_errors_name_the_file(tmp_path, capsys):
    gt_dir, pred_dir = _tiny_label_dirs(tmp_path)
    Image.fromarray(np.zeros((4, 6), np.uint8), mode="L").save(pred_dir / "a.png")
    with pytest.raises(DataError, match=r"b\.png.*prediction missing for 1 of 2"):
        run_score_parsing(gt_dir, pred_dir, "lip", None, "skip")
    out = tmp_path / "never.json"
    assert main(["score", "parsing", "--gt", str(gt_dir), "--pred", str(pred_dir), "--schema", "lip",
                 "--json", str(out)]) == 2
    assert "b.png" in capsys.readouterr().err and not out.exists()

    Image.fromarray(np.zeros((5, 6), np.uint8), mode="L").save(pred_dir / "b.png")
    with pytest.raises(DataError, match=r"b\.png: prediction is 6x5 but ground truth b\.png is 6x4"):
        run_score_parsing(gt_dir, pred_dir, "lip", None, "skip")

    Image.fromarray(np.full((4, 6), 255, np.uint8), mode="L").save(pred_dir / "b.png")
    with pytest.raises(DataError, match=r"b\.png: prediction holds 255"):
        run_score_parsing(gt_dir, pred_dir, "lip", None, "skip")

    Image.fromarray(np.full((4, 6), 30, np.uint8), mode="L").save(pred_dir / "b.png")
    with pytest.raises(DataError, match=r"b\.png: label values \[30\]"):
        run_score_parsing(gt_dir, pred_dir, "lip", None, "skip")


# -- pose: MPII ---------------------------------------------------------------------


def _mpii_path(shared_data: Path) -> Path:
    return shared_data / "pose" / "mpii_val_gt" / "detections_our_format.mat"


def _check_mpii_json(path: Path) -> None:
    scores = json.loads(path.read_text())
    for joint, expected in MPII_README_PCKH.items():
        assert scores["per_joint"][joint] == pytest.approx(expected, abs=0.05), joint
    assert scores["mean"] == pytest.approx(MPII_README_MEAN, abs=0.005)
    assert scores["threshold"] == 0.5 and scores["schema"] == "mpii"
    assert list(scores["table"]) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"]
    assert 0 < scores["auc"] < scores["mean"]


def test_mpii_through_the_cli(shared_data, tmp_path, capsys):
    gt = _mpii_path(shared_data)
    out = tmp_path / "mpii.json"
    assert main(["score", "pose", "--gt", str(gt), "--pred", str(gt), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Shoulder" in printed and "82.34" in printed
    _check_mpii_json(out)


def test_mpii_preds_layout_mat_and_npy(shared_data, tmp_path):
    import scipy.io

    gt = _mpii_path(shared_data)
    predictions = read_mpii_gt_mat(gt).predictions
    assert predictions is not None and predictions.shape == (2958, 16, 2)
    scipy.io.savemat(tmp_path / "preds.mat", {"preds": predictions})
    np.save(tmp_path / "preds.npy", predictions)
    for name in ("preds.mat", "preds.npy"):
        out = tmp_path / f"{name}.json"
        assert main(["score", "pose", "--gt", str(gt), "--pred", str(tmp_path / name), "--json", str(out)]) == 0
        _check_mpii_json(out)
    np.save(tmp_path / "short.npy", predictions[:10])
    with pytest.raises(DataError, match="10 predicted people for 2958"):
        run_score_pose(gt, tmp_path / "short.npy", None, 0.5, None)


# -- pose: LIP CSV ------------------------------------------------------------------


def _gt_joints() -> list[list[float]]:
    joints = [[10.0 * j, 5.0 * j] for j in range(16)]
    joints[8] = [100.0, 100.0]  # upper neck
    joints[9] = [100.0, 80.0]  # head top: reference length 20 px, 10 px at threshold 0.5
    return joints


def _gt_row(name: str, missing: tuple[int, ...] = ()) -> str:
    cells = [name]
    for j, (x, y) in enumerate(_gt_joints()):
        cells += ["nan"] * 3 if j in missing else [f"{x:g}", f"{y:g}", "0"]
    return ",".join(cells)


def _pred_row(name: str, offsets: dict[int, float], nan: tuple[int, ...] = (), flags: bool = False) -> str:
    cells = [name]
    for j, (x, y) in enumerate(_gt_joints()):
        values = ["nan", "nan"] if j in nan else [f"{x + offsets.get(j, 0.0):g}", f"{y:g}"]
        cells += values + (["0"] if flags else [])
    return ",".join(cells)


@pytest.fixture
def lip_csvs(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("\n".join([
        _gt_row("a.jpg"),
        _gt_row("b.jpg", missing=(9,)),  # no head top: dropped
        _gt_row("c.jpg"),  # no prediction row: every joint wrong
        _gt_row("d.jpg", missing=(15,)),
    ]) + "\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("\n".join([
        _pred_row("a.jpg", {0: 9.0, 1: 11.0}),  # r_ankle 0.45 (right), r_knee 0.55 (wrong at 0.5)
        _pred_row("b.jpg", {}),
        _pred_row("d", {}, nan=(14,), flags=True),  # matched without extension; l_elbow not predicted
        _pred_row("zzz.jpg", {}),  # not in the ground truth
    ]) + "\n")
    return gt, pred


def test_lip_pck_by_hand(lip_csvs, tmp_path, capsys):
    gt, pred = lip_csvs
    out = tmp_path / "lip.json"
    assert main(["score", "pose", "--gt", str(gt), "--pred", str(pred), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 ground-truth rows have no prediction" in err and "zzz.jpg" in err
    s = json.loads(out.read_text())
    assert s["schema"] == "lip" and s["num_rows"] == 4 and s["num_dropped"] == 1
    assert s["num_missing_predictions"] == 1 and s["num_unknown_predictions"] == 1
    # Rows a, c, d count; c is wrong everywhere.
    pj = s["per_joint"]
    assert pj["r_ankle"] == pytest.approx(200 / 3)
    assert pj["r_knee"] == pytest.approx(100 / 3)
    assert pj["l_elbow"] == pytest.approx(100 / 3)  # d did not predict it
    assert pj["l_wrist"] == pytest.approx(50.0)  # d does not annotate it
    assert pj["l_knee"] == pytest.approx(200 / 3)
    # Pooled over joints 0-5 and 8-15: 41 annotated, 13 (a) + 0 (c) + 12 (d) right.
    assert s["mean"] == pytest.approx(100 * 25 / 41)
    assert s["table"]["Head"] == pytest.approx(200 / 3)
    assert s["table"]["Knee"] == pytest.approx(50.0)
    assert s["table"]["Wrist"] == pytest.approx((200 / 3 + 50) / 2)

    looser = tmp_path / "lip06.json"
    assert run_score_pose(gt, pred, str(looser), 0.6, None) == 0
    s6 = json.loads(looser.read_text())
    assert s6["threshold"] == 0.6 and s6["per_joint"]["r_knee"] == pytest.approx(200 / 3)


def test_pose_input_errors(lip_csvs, tmp_path, capsys):
    gt, pred = lip_csvs
    bad = tmp_path / "bad.csv"
    bad.write_text("a.jpg," + ",".join(["1"] * 31) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 1: expected name \+ 32 numbers"):
        run_score_pose(gt, bad, None, 0.5, None)
    assert main(["score", "pose", "--gt", str(gt), "--pred", str(pred), "--schema", "mpii"]) == 2
    assert "head boxes" in capsys.readouterr().err
    assert main(["score", "pose", "--gt", str(gt), "--pred", str(pred), "--threshold", "-1"]) == 2
    with pytest.raises(DataError, match="MPII .mat or a LIP pose CSV"):
        run_score_pose(tmp_path / "gt.txt", pred, None, 0.5, None)
