"""What several test files share: the repository's folders, the tiny options of every registered
model, and synthetic data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from humanparse.data.synth import write_synthetic_dataset
from humanparse.schemas import LIP, LIP_JOINTS

# The checkout's root and its shipped configs, wherever the test file that asks sits below tests/.
REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# model name -> options that make a tiny instance (a CPU forward in milliseconds). A model
# registered in humanparse.MODELS needs an entry here: tests/test_every_model.py checks it.
TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "deeplab": {"backbone": "resnet18", "base_width": 8, "output_stride": 8},
    "attention_to_scale": {"backbone": "resnet18", "base_width": 8, "scales": [1.0, 0.5], "attention_channels": 8},
    "ss_nan": {"backbone": "resnet18", "base_width": 8, "scales": [0.5, 1.0], "aggregation_channels": 8},
    "jppnet": {"backbone": "resnet18", "base_width": 8, "refine_stages": 1, "scales": [1.0, 0.75]},
    "pose_net": {"backbone": "resnet18", "base_width": 8},
}


def tiny_spec(name: str, factory: Any) -> dict[str, Any]:
    """A complete spec of model ``name`` (classes from LIP, joints from LIP's 16) at tiny size."""
    import inspect

    parameters = inspect.signature(factory).parameters
    spec: dict[str, Any] = {"name": name, **TINY_OPTIONS[name]}
    if "num_classes" in parameters:
        spec["num_classes"] = LIP.num_classes
    if "num_joints" in parameters:
        spec["num_joints"] = LIP_JOINTS.num_joints
    return spec


def synthetic_humans(root: Path, count: int = 200, seed: int = 3, size: int = 64) -> Path:
    """Uncluttered synthetic people in LIP's layout (with pose CSVs): a network from scratch
    learns them in a few hundred steps."""
    write_synthetic_dataset(root, count, seed=seed, size=(size, size), val_fraction=0.25, clutter=0.0)
    return root
