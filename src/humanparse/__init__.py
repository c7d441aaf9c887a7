"""humanparse: human parsing and pose estimation in pure PyTorch.

The stable API (everything else is reached through these or their modules)::

    import humanparse as hp

    config = hp.load_config("configs/ccp/deeplab_resnet18_cpu.yaml", ["train.max_epochs=5"])
    summary = hp.train(config)                      # checkpoints, logs and a model file
    saved = hp.load_model(summary["model"])         # the model file: model, schemas, preprocessing
    predictor = hp.Predictor.from_saved(saved, flip=True)
    prediction = predictor.predict([image])[0]      # labels / joints at the image's own resolution
    scores = hp.evaluate(summary["model"], config["data"])

Names are imported on first use, so ``import humanparse`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "load_config": ("humanparse.config", "load_config"),
    "train": ("humanparse.engine.train", "run_train"),
    "evaluate": ("humanparse.evaluation.evaluate", "evaluate_model"),
    "build_model": ("humanparse.models", "build_model"),
    "MODELS": ("humanparse.models", "MODELS"),
    "LOSSES": ("humanparse.losses", "LOSSES"),
    "BACKBONES": ("humanparse.nn.backbones", "BACKBONES"),
    "load_model": ("humanparse.inference.model_file", "load_model"),
    "save_model": ("humanparse.inference.model_file", "save_model"),
    "Predictor": ("humanparse.inference.predictor", "Predictor"),
    "Prediction": ("humanparse.inference.predictor", "Prediction"),
    "export_onnx": ("humanparse.inference.export", "export_onnx"),
    "open_dataset": ("humanparse.data.readers", "open_dataset"),
    "Sample": ("humanparse.data.sample", "Sample"),
    "get_label_schema": ("humanparse.schemas", "get_label_schema"),
    "get_joint_schema": ("humanparse.schemas", "get_joint_schema"),
    "get_label_mapping": ("humanparse.schemas", "get_label_mapping"),
    "HumanparseError": ("humanparse.errors", "HumanparseError"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'humanparse' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
