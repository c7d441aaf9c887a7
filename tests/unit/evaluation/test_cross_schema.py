"""Predictions of one label schema written and scored in another (LIP -> ATR on their 16 shared
classes, LIP paper Table 8): by hand, and the same figure through evaluate and through
predict + score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from humanparse.cli import main
from humanparse.data.image_io import read_label, write_label_png
from humanparse.data.readers import open_dataset
from humanparse.data.synth import write_synthetic_dataset
from humanparse.evaluation.cross_schema import CrossSchema, resolve_mapping
from humanparse.inference.model_file import save_model
from humanparse.inference.predictor import Predictor
from humanparse.models import build_model
from humanparse.schemas import ATR, IGNORE_INDEX, LIP, SchemaError

LIP_TO_ATR = CrossSchema(resolve_mapping(LIP, "atr"))


def test_lip_to_atr_scores_the_16_shared_classes_and_misses_the_rest():
    assert len(LIP_TO_ATR.reachable) == 16
    assert set(LIP_TO_ATR.scored_schema.classes) == set(ATR.classes) - {"Belt", "Bag"}
    lip = np.array([[LIP.classes.index("Coat"), LIP.classes.index("Hair"), 0]], dtype=np.uint8)
    atr = np.array([[ATR.classes.index("Upper-clothes"), ATR.classes.index("Hair"), ATR.classes.index("Bag")]],
                   dtype=np.uint8)
    # Coat has no ATR class: written as background; Bag cannot be predicted: its truth is ignored.
    assert LIP_TO_ATR.labels(lip).tolist() == [[0, ATR.classes.index("Hair"), 0]]
    scored = LIP_TO_ATR.scored_schema.classes
    assert LIP_TO_ATR.scored_prediction(lip).tolist() == [[0, scored.index("Hair"), 0]]
    assert LIP_TO_ATR.scored_ground_truth(atr).tolist() == [[scored.index("Upper-clothes"), scored.index("Hair"),
                                                            IGNORE_INDEX]]
    probs = np.random.default_rng(0).dirichlet(np.ones(LIP.num_classes), size=(4, 5)).transpose(2, 0, 1)
    mapped = LIP_TO_ATR.probabilities(probs.astype(np.float32))
    assert mapped.shape == (ATR.num_classes, 4, 5) and np.allclose(mapped.sum(0), 1.0, atol=1e-5)
    torch_ids = LIP_TO_ATR.labels(torch.from_numpy(lip))
    assert torch_ids.tolist() == LIP_TO_ATR.labels(lip).tolist()


def test_a_mapping_file_must_start_from_the_predictions_schema(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("source: atr\ntarget: lip\nmap: {Hat: Hat}\n")
    with pytest.raises(SchemaError, match="from 'atr', but the predictions are in 'lip'"):
        resolve_mapping(LIP, path)


@pytest.fixture(scope="module")
def atr_folder(tmp_path_factory) -> Path:
    """Synthetic people with their labels converted into ATR's ids, as a folder dataset."""
    tmp = tmp_path_factory.mktemp("cross")
    write_synthetic_dataset(tmp / "lip", 6, seed=4, size=(64, 64), val_fraction=0.5, clutter=0.0)
    root = tmp / "atr"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    to_atr = resolve_mapping(LIP, "atr")
    ids = []
    for sample in open_dataset("lip", tmp / "lip", split="val"):
        name = Path(sample.meta["image_path"])
        ids.append(name.stem)
        shutil.copy(name, root / "images" / name.name)
        write_label_png(root / "labels" / f"{name.stem}.png", to_atr.apply(sample.label), ATR.flat_palette())
    (root / "val_id.txt").write_text("\n".join(ids) + "\n")
    return root


def test_evaluate_in_another_schema_equals_predict_then_score(atr_folder, tmp_path):
    spec = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8}
    torch.manual_seed(0)
    model = save_model(tmp_path / "model", build_model(spec).eval(), spec, LIP, (64, 64))
    scores = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(model), "--format", "folder", "--root", str(atr_folder),
                 "--to-schema", "atr", "--json", str(scores)]) == 0
    evaluated = json.loads(scores.read_text())
    assert len(evaluated["per_class_iou"]) == 16
    # The same predictions written in LIP's ids and scored against ATR's truth.
    predictions = tmp_path / "pred"
    assert main(["predict", "--model", str(model), str(atr_folder / "images"), "--out", str(predictions)]) == 0
    scored = tmp_path / "score.json"
    assert main(["score", "parsing", "--gt", str(atr_folder / "labels"), "--pred", str(predictions),
                 "--schema", "atr", "--pred-schema", "lip", "--json", str(scored)]) == 0
    assert json.loads(scored.read_text())["miou"] == pytest.approx(evaluated["miou"], abs=1e-9)
    # predict --to-schema writes ATR ids directly.
    mapped = tmp_path / "mapped"
    assert main(["predict", "--model", str(model), str(atr_folder / "images"), "--out", str(mapped),
                 "--to-schema", "atr"]) == 0
    stem = sorted(p.stem for p in (atr_folder / "images").iterdir())[0]
    lip_ids = read_label(next(predictions.glob(f"{stem}*.png")), num_classes=LIP.num_classes)
    atr_ids = read_label(next(mapped.glob(f"{stem}*.png")), num_classes=ATR.num_classes)
    assert np.array_equal(atr_ids, LIP_TO_ATR.labels(lip_ids))


def test_the_predictor_maps_its_outputs_but_flips_in_the_models_schema():
    spec = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8}
    torch.manual_seed(1)
    model = build_model(spec).eval()
    image = np.random.default_rng(2).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    plain = Predictor(model, LIP, (32, 32), flip=True).predict([image], probabilities=True)[0]
    mapped = Predictor(model, LIP, (32, 32), flip=True, to_schema="atr")
    assert mapped.output_schema is ATR or mapped.output_schema.classes == ATR.classes
    out = mapped.predict([image], probabilities=True)[0]
    assert np.array_equal(out.labels, LIP_TO_ATR.labels(plain.labels))
    np.testing.assert_allclose(out.probabilities, LIP_TO_ATR.probabilities(plain.probabilities), atol=1e-6)
