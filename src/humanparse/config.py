"""Training configs: a YAML file over built-in defaults, any value overridable as ``key.sub=value``.

A config has five sections:

- ``model``: the model spec given to :func:`humanparse.models.build_model` (free-form: the
  model checks its own options); ``num_classes`` is filled in from the schema.
- ``data``: where the data is and how batches are made.
- ``loss``: the list of loss terms (:data:`humanparse.losses.LOSSES`), each with its weight
  and the epochs it is on; null: the model's default terms (cross-entropy for a model that
  parses, the heatmap loss for one that predicts joints).
- ``train``: optimisation, precision, devices, checkpoints and logs.
- ``eval``: test-time augmentation and the absent-class convention for validation.

Relative paths in ``data`` (``root``, ``schema`` when it is a file) are resolved against the
config file's folder, or the working directory when that is where they exist.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from .data.image_io import DEFAULT_MAX_PIXELS
from .errors import ConfigError  # re-exported: its historic home
from .io import read_yaml_mapping
from .losses import check_loss_list


DEFAULTS: dict[str, Any] = {
    "model": {"name": "deeplab", "backbone": "resnet50", "output_stride": 16},
    "data": {
        "format": "lip",
        "root": None,
        "schema": None,  # None: the format's own schema
        "train_split": "train",
        "val_split": "val",
        "train_ids": None,  # a subset: a list of ids, "first-last" (inclusive), or an id-list file
        "val_ids": None,
        "input_size": [473, 473],
        "batch_size": 8,
        "val_batch_size": None,  # None: batch_size
        "num_workers": 2,
        "max_pixels": DEFAULT_MAX_PIXELS,  # images and labels over this many pixels are refused (null: no limit)
        "augment": {
            "scale": [0.75, 1.25],
            "rotation": 30.0,
            "translation": 0.0,
            "flip": 0.5,
            "jitter": True,
        },
    },
    # A list of {type, weight, start_epoch, stop_epoch, **options}; null: the model's default terms.
    "loss": None,
    "train": {
        "seed": 0,
        "max_epochs": 50,
        "max_steps": -1,  # > 0 stops there, whatever max_epochs says
        "max_time": None,  # e.g. "00:00:15:00" (dd:hh:mm:ss): stop training after that long
        "optimizer": "sgd",  # sgd | adamw
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5.0e-4,
        "poly_power": 0.9,
        "warmup_steps": 0,
        "head_lr_mult": 1.0,  # learning-rate factor for everything but the backbone (10 with ImageNet weights)
        "base_lr_modules": [],  # parameter-name prefixes beside the backbone that keep lr (SS-NAN: [aggregation])
        "init_from": None,  # a model folder or checkpoint whose matching weights start the model (fine-tuning)
        "precision": "auto",  # auto: bf16-mixed on CUDA, 32 on CPU
        "channels_last": "auto",  # auto: on CUDA
        "compile": False,
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",  # ddp is picked automatically for several devices
        "sync_batchnorm": False,  # batch statistics over all processes (small per-GPU batches)
        "freeze_bn": False,  # BatchNorm kept at its (ImageNet) statistics, its weight and bias untrained (DeepLab)
        "accumulate_grad_batches": 1,
        "gradient_clip_val": None,
        "val_every_n_epochs": 1,
        "limit_val_batches": 1.0,
        "log_every_n_steps": 10,
        "out_dir": "runs/experiment",
        "resume": None,  # a checkpoint path, or "last" for out_dir's last.ckpt
    },
    # network_scales: a multi-scale model's own input scales at test time (null: as trained).
    "eval": {"scales": [1.0], "flip": False, "network_scales": None, "absent": "skip"},
}

# Sections whose keys are not checked here (the model checks its own options).
_FREE_SECTIONS = {"model"}
# Loss settings that lived under ``train`` before the ``loss:`` list (see legacy_loss_message).
_LEGACY_LOSS_KEYS = ("aux_weight", "parsing_weight", "pose_weight", "heatmap", "structure_loss")


def legacy_loss_message(path: str, value: Any) -> str:
    """How to write a ``train.<loss key>`` of the earlier config form in the ``loss:`` list."""
    key = path.split(".")[1]
    if key == "structure_loss":
        value = value if isinstance(value, dict) else {}
        start = value.get("start_epoch", 0)
        options = {"sigma_cells": value.get("sigma", 1.0), **({"per_output": True} if value.get("per_output") else {})}
        inline = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())
        example = (
            f"loss: [{{type: cross_entropy, stop_epoch: {start}}}, "
            f"{{type: structure_sensitive, start_epoch: {start}, {inline}}}]"
            if value.get("enabled", True) else "loss: [{type: cross_entropy}]"
        )
    elif key == "heatmap":
        value = value if isinstance(value, dict) else {}
        example = (
            f"loss: [..., {{type: heatmap_l2, sigma_px: {value.get('sigma', 8.0)}, "
            f"occluded_weight: {value.get('occluded_weight', 1.0)}}}]"
        )
    elif key == "aux_weight":
        example = f"aux_weight: {value} in each loss entry, e.g. loss: [{{type: cross_entropy, aux_weight: {value}}}]"
    else:
        kind = "cross_entropy" if key == "parsing_weight" else "heatmap_l2"
        example = f"loss: [..., {{type: {kind}, weight: {value}}}]"
    return (
        f"'{path}' is no longer a train key: losses are chosen and weighted in the 'loss:' list. "
        f"Write: {example}"
    )


def _merge(base: dict[str, Any], update: dict[str, Any], where: str) -> dict[str, Any]:
    """``update`` over ``base``; keys unknown to ``base`` are errors, except in free sections."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        path = f"{where}.{key}" if where else key
        if not where and key in _FREE_SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"'{key}' must be a mapping")
            out[key] = dict(value)  # a file's model section replaces the default one whole
            continue
        if not where and key == "loss":
            out[key] = copy.deepcopy(value)  # a list replaces the default whole; checked in _check
            continue
        if where == "train" and key in _LEGACY_LOSS_KEYS:
            raise ConfigError(legacy_loss_message(path, value))
        if key not in out:
            known = ", ".join(sorted(out))
            raise ConfigError(f"unknown config key '{path}'; known here: {known}")
        if isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"'{path}' must be a mapping of {', '.join(sorted(out[key]))}")
            out[key] = _merge(out[key], value, path)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.02"`` -> (["train", "lr"], 0.02); values are read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value (e.g. train.lr=0.02)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {text!r}: bad key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {e}") from e
    return parts, value


def _nest(parts: Sequence[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def _resolve_path(value: str | None, base: Path | None) -> str | None:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    if path.is_absolute() or base is None or path.exists():
        return str(path)
    candidate = base / path
    return str(candidate) if candidate.exists() else str(path)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Defaults, then the YAML file (if any), then each ``key=value`` override, checked."""
    config = copy.deepcopy(DEFAULTS)
    base: Path | None = None
    if path is not None:
        path = Path(path)
        data = read_yaml_mapping(path, ConfigError, "config", empty=True)  # a mapping of model/data/loss/train/eval
        try:
            config = _merge(config, data, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e
        base = path.resolve().parent
    for text in overrides:
        parts, value = parse_override(text)
        if parts[0] in _FREE_SECTIONS and len(parts) > 1:
            config[parts[0]] = {**config[parts[0]], **_nest(parts[1:], value)}
            continue
        if parts[0] == "loss" and len(parts) > 1:
            _override_loss_entry(config, text, parts[1:], value)
            continue
        config = _merge(config, _nest(parts, value), "")
    data = config["data"]
    data["root"] = _resolve_path(data["root"], base)
    if isinstance(data["schema"], str) and data["schema"].endswith((".yaml", ".yml")):
        data["schema"] = _resolve_path(data["schema"], base)
    for key in ("train_ids", "val_ids"):
        if isinstance(data[key], str) and data[key].endswith((".txt", ".lst")):
            data[key] = _resolve_path(data[key], base)
    _check(config)
    return config


def _override_loss_entry(config: dict[str, Any], text: str, parts: Sequence[str], value: Any) -> None:
    """``loss.<type or index>.<option>=value``: set one option of one entry of the loss list."""
    entries = config["loss"]
    if not isinstance(entries, list):
        raise ConfigError(f"override {text!r}: the config has no loss list to change; give one (loss=[...]) first")
    if len(parts) != 2:
        raise ConfigError(f"override {text!r}: write loss.<type or index>.<option>=value")
    which, option = parts
    if which.isdigit():
        if int(which) >= len(entries):
            raise ConfigError(f"override {text!r}: the loss list has {len(entries)} entries")
        matches = [int(which)]
    else:
        matches = [i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("type") == which]
        if len(matches) != 1:
            types = ", ".join(str(e.get("type")) for e in entries if isinstance(e, dict))
            how = "no" if not matches else "more than one"
            raise ConfigError(f"override {text!r}: {how} {which!r} entry in the loss list ({types}); use its index")
    entries[matches[0]] = {**entries[matches[0]], option: value}


def _check(config: dict[str, Any]) -> None:
    data, train, ev = config["data"], config["train"], config["eval"]
    size = data["input_size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise ConfigError(f"data.input_size must be [height, width] positive integers, not {size!r}")
    for key in ("batch_size", "num_workers"):
        if not isinstance(data[key], int) or data[key] < (1 if key == "batch_size" else 0):
            raise ConfigError(f"data.{key} must be an integer {'>= 1' if key == 'batch_size' else '>= 0'}, not {data[key]!r}")
    limit = data["max_pixels"]
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigError(f"data.max_pixels must be a positive number of pixels or null (no limit), not {limit!r}")
    if train["optimizer"] not in ("sgd", "adamw"):
        raise ConfigError(f"train.optimizer must be 'sgd' or 'adamw', not {train['optimizer']!r}")
    if not isinstance(train["lr"], (int, float)) or train["lr"] <= 0:
        raise ConfigError(f"train.lr must be a positive number, not {train['lr']!r}")
    modules = train["base_lr_modules"]
    if not isinstance(modules, list) or not all(isinstance(m, str) and m.strip(".") for m in modules):
        raise ConfigError(f"train.base_lr_modules must be a list of parameter-name prefixes, not {modules!r}")
    for key in ("freeze_bn", "sync_batchnorm"):
        if not isinstance(train[key], bool):
            raise ConfigError(f"train.{key} must be true or false, not {train[key]!r}")
    if train["freeze_bn"] and train["sync_batchnorm"]:
        raise ConfigError("train.freeze_bn and train.sync_batchnorm exclude each other: frozen BatchNorm "
                          "computes no batch statistics to synchronise")
    if ev["absent"] not in ("skip", "zero"):
        raise ConfigError(f"eval.absent must be 'skip' or 'zero', not {ev['absent']!r}")
    for key in ("scales", "network_scales"):
        values = ev[key]
        if key == "network_scales" and values is None:
            continue
        if not isinstance(values, list) or not values or not all(isinstance(s, (int, float)) and s > 0 for s in values):
            raise ConfigError(f"eval.{key} must be a list of positive numbers, not {values!r}")
    check_loss_list(config["loss"])
    if not isinstance(config["model"].get("name"), str):
        raise ConfigError("model.name must name a model (e.g. deeplab, attention_to_scale)")


def dump_config(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


__all__ = ["DEFAULTS", "ConfigError", "dump_config", "load_config", "parse_override"]
