"""Parsing models, one file per model, each a plain ``nn.Module`` returning :class:`ModelOutput`.

A model is described by a JSON-able spec, ``{"name": ..., "num_classes": ..., **options}``;
:func:`build_model` makes it. The spec is what a saved model file records.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ..errors import ConfigError

from .attention_to_scale import AttentionToScale
from .deeplab import DeepLab
from .hipn import HIPN
from .jppnet import JPPNet
from .output import ExtraInput, ModelOutput, extra_inputs_of
from .pil import ParsingInducedPose
from .pose_net import JPPNetPoseBranch, PoseNet, ResNetPose
from .ssnan import SSNAN
from .wshp import PriorRefiner

MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplab": DeepLab,
    "attention_to_scale": AttentionToScale,
    "jppnet": JPPNet,
    "jppnet_pose_branch": JPPNetPoseBranch,
    "pose_net": JPPNetPoseBranch,  # the earlier name of jppnet_pose_branch: configs and model files that name it load
    "resnet_pose": ResNetPose,
    "pil": ParsingInducedPose,
    "ss_nan": SSNAN,
    "hipn": HIPN,
    "wshp_refiner": PriorRefiner,
}


def predicts_parsing(model: nn.Module) -> bool:
    """Whether a model returns parsing logits (it has classes; a pose-only model has none)."""
    return getattr(model, "num_classes", None) is not None


def predicts_joints(model: nn.Module) -> bool:
    """Whether a model returns joint heatmaps (it has joints)."""
    return getattr(model, "num_joints", None) is not None


def predicts_scale_weights(model: nn.Module) -> bool:
    """Whether a model returns per-pixel weights over its input scales (``extras["scale_weights"]``)."""
    return bool(getattr(getattr(model, "_orig_mod", model), "predicts_scale_weights", False))


def build_model(spec: dict[str, Any]) -> nn.Module:
    """The model a spec describes, freshly initialised (no weights are loaded here)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"a model spec must be a mapping with a 'name', got {spec!r}")
    options = dict(spec)
    name = options.pop("name")
    try:
        factory = MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    try:
        return factory(**options)
    except (TypeError, ValueError) as e:  # an option the model does not take, or a bad value
        raise ConfigError(f"model {name!r}: {e}") from e


__all__ = [
    "MODELS", "AttentionToScale", "DeepLab", "ExtraInput", "HIPN", "JPPNet", "JPPNetPoseBranch", "ModelOutput", "ParsingInducedPose", "PoseNet", "PriorRefiner",
    "ResNetPose", "SSNAN", "build_model", "extra_inputs_of", "predicts_joints", "predicts_parsing", "predicts_scale_weights",
]
