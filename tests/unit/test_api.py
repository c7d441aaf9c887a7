"""The small stable API at the package top: every name resolves, and a model goes from spec to
file to prediction through it alone."""

from __future__ import annotations

import numpy as np
import pytest

import humanparse as hp


@pytest.mark.parametrize("name", [n for n in hp.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    assert getattr(hp, name) is not None
    assert name in dir(hp)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hp.nope  # noqa: B018


def test_spec_to_file_to_prediction(tmp_path):
    schema = hp.get_label_schema("lip")
    spec = {"name": "deeplab", "num_classes": schema.num_classes, "backbone": "resnet18", "base_width": 8}
    folder = hp.save_model(tmp_path / "model", hp.build_model(spec).eval(), spec, schema, (32, 32))
    saved = hp.load_model(folder)
    (prediction,) = hp.Predictor.from_saved(saved).predict([np.zeros((40, 30, 3), np.uint8)])
    assert isinstance(prediction, hp.Prediction) and prediction.labels.shape == (40, 30)
    assert set(hp.MODELS) >= {"deeplab", "attention_to_scale", "jppnet", "ss_nan"}
    assert "cross_entropy" in hp.LOSSES and "resnet101" in hp.BACKBONES
