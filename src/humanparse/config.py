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

Every value is checked after the overrides against :data:`RULES` (a type, a range or a list of
choices per key), so a bad value is one error naming the key before any work starts. Relative
paths in ``data`` (``root``, ``headboxes``, ``keypoints``, ``schema`` when it is a file) are resolved against the config
file's folder, or the working directory when that is where they exist.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from .data.image_io import DEFAULT_MAX_PIXELS
from .errors import ConfigError  # re-exported: its historic home
from .io import local_path, parse_yaml, read_yaml_mapping, yaml_problem
from .losses import check_loss_list
from .semi.noise import NOISE_RULES


DEFAULTS: dict[str, Any] = {
    "model": {"name": "deeplab", "backbone": "resnet50", "output_stride": 16},
    "data": {
        "format": "lip",
        "root": None,
        "schema": None,  # None: the format's own schema
        "headboxes": None,  # mpii: the val split's ground-truth .mat, for its head boxes (None: mpii_gt_<split>.mat beside the json)
        "keypoints": None,  # ccp: a LIP pose CSV of joints for the photos (a detector's: a teacher's targets)
        "train_split": "train",
        "val_split": "val",
        "train_ids": None,  # a subset: a list of ids, "first-last" (inclusive), or an id-list file
        "val_ids": None,
        "input_size": [473, 473],
        "batch_size": 8,
        "val_batch_size": None,  # None: batch_size
        "num_workers": 2,
        "max_pixels": DEFAULT_MAX_PIXELS,  # images and labels over this many pixels are refused (null: no limit)
        # HIPN's retraining: a `humanparse pseudo-label` folder trained on beside the labelled
        # data, its samples' noisy pixels by pseudo_noise (see humanparse.semi.noise).
        "pseudo_root": None,
        "pseudo_noise": "certainty_consistency",
        "pseudo_gamma": 0.5,  # the max_probability rule's threshold
        # WSHP's refiner: {k: 3, n: 5} gives each sample a prior from the training split's labelled
        # people in similar poses (training: a random k of the n nearest, never itself; val: k nearest).
        "priors": None,
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
        "optimizer": "sgd",  # sgd | adamw | rmsprop
        "lr": 0.01,
        "momentum": 0.9,
        "adam_beta1": 0.9,  # AdamW's first-moment decay (pix2pix and WSHP's refiner: 0.5)
        "weight_decay": 5.0e-4,
        "poly_power": 0.9,
        "lr_milestones": None,  # epochs at which lr is multiplied by lr_gamma (a step schedule instead of poly)
        "lr_gamma": 0.5,
        "warmup_steps": 0,
        "head_lr_mult": 1.0,  # learning-rate factor for everything but the backbone (10 with ImageNet weights)
        "base_lr_modules": [],  # parameter-name prefixes beside the backbone that keep lr (SS-NAN: [aggregation])
        "init_from": None,  # a model folder or checkpoint whose matching weights start the model (fine-tuning)
        "init_modules": [],  # only these modules' weights come from init_from (dotted names; empty: all)
        "precision": "auto",  # auto: bf16-mixed on CUDA, 32 on CPU
        "channels_last": "auto",  # auto: on CUDA
        "compile": False,
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",  # ddp is picked automatically for several devices
        "sync_batchnorm": False,  # batch statistics over all processes (small per-GPU batches)
        "freeze_bn": False,  # BatchNorm kept at its (ImageNet) statistics, its weight and bias untrained (DeepLab)
        "freeze_modules": [],  # modules (dotted names: backbone, head) left untrained and in eval mode
        "accumulate_grad_batches": 1,
        "gradient_clip_val": None,
        "val_every_n_epochs": 1,
        "limit_val_batches": 1.0,
        "log_every_n_steps": 10,
        "out_dir": "runs/experiment",
        "resume": None,  # a checkpoint path, or "last" for out_dir's last.ckpt
    },
    # network_scales: a multi-scale model's own input scales at test time (null: as trained).
    # top_down (evaluate only): every annotated person predicted from its own box (MPII's protocol).
    "eval": {"scales": [1.0], "flip": False, "network_scales": None, "absent": "skip", "top_down": False},
}

# --------------------------------------------------------------------------- what each key takes


@dataclass(frozen=True)
class Rule:
    """What one config key takes: ``expected`` says it in words (for the error), ``accepts`` tests a value."""

    expected: str
    accepts: Callable[[Any], bool]

    def __or__(self, other: Rule) -> Rule:
        return Rule(f"{self.expected} or {other.expected}", lambda v: self.accepts(v) or other.accepts(v))

    def said(self, expected: str) -> Rule:
        """The same test, described in other words."""
        return Rule(expected, self.accepts)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def integer(low: int, high: int | None = None) -> Rule:
    words = "a positive integer" if low == 1 and high is None else (
        f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]")
    return Rule(words, lambda v: _is_int(v) and low <= v and (high is None or v <= high))


def number(low: float, high: float | None = None, *, above: bool = False, below: bool = False) -> Rule:
    """A finite number from ``low`` to ``high``; ``above``/``below``: those ends excluded."""
    if high is None:
        words = "a positive number" if above and low == 0 else f"a number {'>' if above else '>='} {low}"
    else:
        words = f"a number in {'(' if above else '['}{low}, {high}{')' if below else ']'}"

    def accepts(v: Any) -> bool:
        return _is_number(v) and (v > low if above else v >= low) and (
            high is None or (v < high if below else v <= high))

    return Rule(words, accepts)


def choice(*values: Any) -> Rule:
    words = " or ".join(map(repr, values)) if len(values) <= 2 else "one of " + ", ".join(map(repr, values))
    # bools are ints in Python: true is not 1 here
    return Rule(words, lambda v: any(v == c and type(v) is type(c) for c in values))


def string(words: str = "a string") -> Rule:
    return Rule(words, lambda v: isinstance(v, str) and bool(v.strip()))


def number_list(low: float = 0, *, above: bool = True) -> Rule:
    item = number(low, above=above)
    return Rule(f"a non-empty list of {item.expected.removeprefix('a ')}s",
                lambda v: isinstance(v, list) and bool(v) and all(item.accepts(x) for x in v))


BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))
NULL = Rule("null", lambda v: v is None)
PATH = string("a path")
# Lightning's duration string; YAML reads an unquoted 1:00:00:00 as a number, hence the quotes.
DURATION = Rule('a duration "DD:HH:MM:SS" (in quotes)',
                lambda v: isinstance(v, str) and re.fullmatch(r"\d+:\d+:\d+:\d+", v.strip()) is not None)
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", 32, 16, 64, "32", "16",
              "64", "bf16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
NO_LIMIT = (integer(1) | choice(-1)).said("a positive integer, or -1 (no limit)")
DEVICES = (choice("auto") | integer(1) | choice(-1) | Rule(
    "", lambda v: isinstance(v, list) and bool(v) and all(_is_int(i) and i >= 0 for i in v) and len(set(v)) == len(v))
).said("'auto', a number of devices (-1: all) or a list of distinct device indices such as [0, 1]")
ID_SELECTION = NULL | Rule(
    "a list of ids, 'first-last' or an id-list file",
    lambda v: (isinstance(v, str) and bool(v.strip())) or (isinstance(v, list) and all(isinstance(i, (str, int)) for i in v)))

# Dotted names of a model's modules (train.freeze_modules, init_modules, base_lr_modules).
MODULE_NAMES = Rule("a list of module names (backbone, head, ...)",
                    lambda v: isinstance(v, list) and all(isinstance(m, str) and m.strip(".") for m in v))

# dotted key -> what it takes; every key of DEFAULTS but the free sections and the loss list
# (check_loss_list) has one. load_config checks them after the overrides.
RULES: dict[str, Rule] = {
    "data.format": string("a dataset format name"),
    "data.root": NULL | PATH,
    "data.headboxes": NULL | PATH,
    "data.keypoints": NULL | PATH,
    "data.schema": NULL | string("a label schema name or a .yaml file"),
    "data.train_split": NULL | string("a split name"),  # null: every split the reader finds
    "data.val_split": NULL | string("a split name"),
    "data.train_ids": ID_SELECTION,
    "data.val_ids": ID_SELECTION,
    "data.input_size": Rule("[height, width] positive integers",
                            lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(s) and s > 0 for s in v)),
    "data.batch_size": integer(1),
    "data.val_batch_size": NULL | integer(1),
    "data.num_workers": integer(0),
    "data.max_pixels": (NULL | integer(1)).said("a positive number of pixels, or null (no limit)"),
    "data.pseudo_root": NULL | PATH,
    "data.pseudo_noise": choice(*NOISE_RULES),
    "data.pseudo_gamma": number(0, 1),
    "data.priors": NULL | Rule("{k: neighbours averaged, n: pool they are drawn from (null: the k nearest), "
                               "kind: parts or skeleton}", lambda v: (
        isinstance(v, dict) and set(v) <= {"k", "n", "kind"} and v.get("kind", "parts") in ("parts", "skeleton")
        and _is_int(v.get("k", 3)) and v.get("k", 3) >= 1
        and (v.get("n", 5) is None or (_is_int(v.get("n", 5)) and v.get("n", 5) >= v.get("k", 3))))),
    "data.augment.scale": Rule("[low, high] zoom factors with 0 < low <= high",
                               lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(s) for s in v)
                               and 0 < v[0] <= v[1]),
    "data.augment.rotation": number(0, 180),
    "data.augment.translation": number(0, 1),
    "data.augment.flip": number(0, 1),
    "data.augment.jitter": BOOLEAN,
    "train.seed": integer(0, 2**32 - 1),  # numpy's and Lightning's seed range
    "train.max_epochs": NO_LIMIT,
    "train.max_steps": NO_LIMIT,
    "train.max_time": NULL | DURATION,
    "train.optimizer": choice("sgd", "adamw", "rmsprop"),
    "train.lr": number(0, above=True),
    "train.momentum": number(0, 1, below=True),
    "train.adam_beta1": number(0, 1, below=True),
    "train.weight_decay": number(0),
    "train.poly_power": number(0),
    "train.lr_milestones": NULL | Rule("an increasing list of positive epoch numbers", lambda v: (
        isinstance(v, list) and bool(v) and all(_is_int(x) and x > 0 for x in v) and v == sorted(set(v)))),
    "train.lr_gamma": number(0, 1, above=True),
    "train.warmup_steps": integer(0),
    "train.head_lr_mult": number(0, above=True),
    "train.base_lr_modules": MODULE_NAMES.said("a list of parameter-name prefixes"),
    "train.init_from": NULL | PATH,
    "train.init_modules": MODULE_NAMES,
    "train.precision": choice(*PRECISIONS).said(
        "one of 'auto', '32-true', 'bf16-mixed', '16-mixed', 'bf16-true', '16-true', '64-true' (or 32, 16, 64, 'bf16')"),
    "train.channels_last": choice("auto") | BOOLEAN,
    "train.compile": BOOLEAN,
    "train.accelerator": choice(*ACCELERATORS),
    "train.devices": DEVICES,
    "train.num_nodes": integer(1),
    "train.strategy": string("a strategy name (auto, ddp, ddp_spawn, ...)"),
    "train.sync_batchnorm": BOOLEAN,
    "train.freeze_bn": BOOLEAN,
    "train.freeze_modules": MODULE_NAMES,
    "train.accumulate_grad_batches": integer(1),
    "train.gradient_clip_val": NULL | number(0, above=True),
    "train.val_every_n_epochs": integer(1),
    "train.limit_val_batches": Rule("a fraction in [0, 1] (a float) or a number of batches (an integer)",
                                    lambda v: (isinstance(v, float) and 0 <= v <= 1) or (_is_int(v) and v >= 0)),
    "train.log_every_n_steps": integer(1),
    "train.out_dir": PATH,
    "train.resume": NULL | string("'last' or a checkpoint path"),
    "eval.scales": number_list(),
    "eval.flip": BOOLEAN,
    "eval.network_scales": NULL | number_list(),
    "eval.absent": choice("skip", "zero"),
    "eval.top_down": BOOLEAN,
}

# The keys that name a file weights or a checkpoint are read from (local files only).
WEIGHT_PATH_KEYS = (("train", "resume"), ("train", "init_from"), ("model", "pretrained"))
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
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {yaml_problem(e)}") from None
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
    """Defaults, then the YAML file (if any), then each ``key=value`` override, checked against
    :data:`RULES` (a :class:`ConfigError` names the key, what it takes and what it got)."""
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
    overridden: list[str] = []
    for text in overrides:
        parts, value = parse_override(text)
        overridden.append(".".join(parts))
        if parts[0] in _FREE_SECTIONS and len(parts) > 1:
            config[parts[0]] = {**config[parts[0]], **_nest(parts[1:], value)}
            continue
        if parts[0] == "loss" and len(parts) > 1:
            _override_loss_entry(config, text, parts[1:], value)
            continue
        config = _merge(config, _nest(parts, value), "")

    def where(key: str) -> str:  # a bad value the file gave (no override set it) is the file's
        set_by_override = any(key == o or key.startswith(o + ".") for o in overridden)
        return f"{path}: " if path is not None and not set_by_override else ""

    _check(config, where)
    data = config["data"]
    data["root"] = _resolve_path(data["root"], base)
    data["headboxes"] = _resolve_path(data["headboxes"], base)
    data["keypoints"] = _resolve_path(data["keypoints"], base)
    data["pseudo_root"] = _resolve_path(data["pseudo_root"], base)
    if isinstance(data["schema"], str) and data["schema"].endswith((".yaml", ".yml")):
        data["schema"] = _resolve_path(data["schema"], base)
    for key in ("train_ids", "val_ids"):
        if isinstance(data[key], str) and data[key].endswith((".txt", ".lst")):
            data[key] = _resolve_path(data[key], base)
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


def _check(config: dict[str, Any], where: Callable[[str], str] = lambda key: "") -> None:
    """Every key against :data:`RULES` (``where(key)`` prefixes the message: the file it came from),
    then what involves several keys, the loss list and the model's name."""
    for key, rule in RULES.items():
        value = _lookup(config, key)
        if not rule.accepts(value):
            raise ConfigError(f"{where(key)}{key}: expected {rule.expected}, got {value!r}")
    train = config["train"]
    if train["freeze_bn"] and train["sync_batchnorm"]:
        raise ConfigError("train.freeze_bn and train.sync_batchnorm exclude each other: frozen BatchNorm "
                          "computes no batch statistics to synchronise")
    check_loss_list(config["loss"])
    # A config is often shared: none of its paths may make the tool fetch (and unpickle) a file.
    for section, key in WEIGHT_PATH_KEYS:
        if config[section].get(key) is not None:
            local_path(config[section][key], f"{section}.{key}", ConfigError)
    if not isinstance(config["model"].get("name"), str):
        raise ConfigError("model.name must name a model (e.g. deeplab, attention_to_scale)")


def _lookup(config: dict[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = value[part]
    return value


def dump_config(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


__all__ = ["DEFAULTS", "RULES", "ConfigError", "Rule", "dump_config", "load_config", "parse_override"]
