"""The bundled parser as a user gets it: from a built wheel, `humanparse predict` without
--model on the example photos, and its labels against CCP's for those photos."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humanparse.bundled import DEFAULT_MODEL, example_photos
from humanparse.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("ccp_0037", "ccp_0048", "ccp_0120")


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory) -> Path:
    """The package as a wheel installs it (built offline from a copy of the source), unpacked
    into a folder of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp / "dist"),
         str(source)], capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("humanparse-*.whl")
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for needed in (f"humanparse/bundled/{DEFAULT_MODEL}/model.json", f"humanparse/bundled/{DEFAULT_MODEL}/model.safetensors",
                       "humanparse/bundled/NOTICE", "humanparse/bundled/LICENSE-CCP",
                       *(f"humanparse/bundled/examples/{e}.jpg" for e in EXAMPLES)):
            assert needed in names, f"the wheel lacks {needed}"
        archive.extractall(site)
    return site


def test_the_installed_package_parses_its_example_photos_without_a_model_flag(installed_package, tmp_path):
    out, work = tmp_path / "parsed", tmp_path / "elsewhere"
    work.mkdir()
    code = (
        "import sys, humanparse\n"
        "from humanparse.bundled import bundled_model_path\n"
        f"assert humanparse.__file__.startswith({str(installed_package)!r}), humanparse.__file__\n"
        f"assert str(bundled_model_path()).startswith({str(installed_package)!r})\n"
        "from humanparse.cli import main\n"
        f"sys.exit(main(['predict', '--examples', '--out', {str(out)!r}]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                         env={"PYTHONPATH": str(installed_package), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    for name in EXAMPLES:
        labels = np.asarray(Image.open(out / f"{name}.png"))
        photo = Image.open(installed_package / "humanparse" / "bundled" / "examples" / f"{name}.jpg")
        assert labels.shape == (photo.height, photo.width)
        assert (out / f"{name}_overlay.jpg").stat().st_size > 10_000
        summary = json.loads((out / f"{name}.json").read_text())
        assert summary["schema"] == "ccp" and summary["model"].startswith(str(installed_package))
        # A person in the middle of a street photo: clothes, skin and hair, not one class everywhere.
        person = 1.0 - (labels == 0).mean()
        assert 0.1 < person < 0.7, f"{name}: {person:.0%} of the photo parsed as the person"
        assert {"skin", "hair"} <= set(summary["classes"]), summary["classes"]
        # ... and its 16 joints, inside the photo, the head above the ankles.
        joints = {j["name"]: j for j in summary["joints"]}
        assert len(joints) == 16 and summary["joint_schema"] == "lip"
        assert all(0 <= j["x"] < photo.width and 0 <= j["y"] < photo.height for j in joints.values())
        assert joints["head_top"]["y"] < joints["l_ankle"]["y"] and joints["head_top"]["y"] < joints["r_ankle"]["y"]
    assert len((out / "joints.csv").read_text().splitlines()) == len(EXAMPLES)


def test_the_bundled_parser_agrees_with_ccp_labels_on_its_examples(shared_data, tmp_path):
    """They are training photos, so this checks the shipped weights are the trained ones
    (a fresh network scores near 0), not generalisation (that is the validation score)."""
    assert main(["predict", *map(str, example_photos()), "--out", str(tmp_path)]) == 0
    for name in EXAMPLES:
        truth = np.asarray(Image.open(shared_data / "ccp" / "labels" / f"{name[4:]}.png"))
        predicted = np.asarray(Image.open(tmp_path / f"{name}.png"))
        accuracy = (truth == predicted).mean()
        assert accuracy > 0.85, f"{name}: pixel accuracy {accuracy:.1%}"
    # Its joints against the pose detector's joints it was trained on (a teacher's, not hand
    # labels), by LIP's rule: within half the upper-neck to head-top distance.
    teacher = {}
    for line in (shared_data / "ccp" / "keypoints" / "labeled_lip16.csv").read_text().splitlines():
        fields = line.split(",")
        teacher[fields[0].removesuffix(".jpg")] = np.array(fields[1:], dtype=float).reshape(16, 3)[:, :2]
    hits = []
    for name in EXAMPLES:
        joints = json.loads((tmp_path / f"{name}.json").read_text())["joints"]
        predicted = np.array([[j["x"], j["y"]] for j in joints])
        target = teacher[name[4:]]
        head = np.linalg.norm(target[9] - target[8])
        hits.extend(np.linalg.norm(predicted - target, axis=1) <= 0.5 * head)
    assert np.mean(hits) > 0.6, f"PCK@0.5 {np.mean(hits):.0%} against the teacher on the examples"
