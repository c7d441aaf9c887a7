"""Mappings between schemas: keypoints of one joint schema onto another, class ids of one
label schema onto another.

Joints are matched by name (``l_``/``r_`` read as ``left_``/``right_``). A target joint the
source lacks is derived where a sound rule exists (``DERIVED_JOINTS``: a weighted sum of
source joints whose weights add up to 1, so it moves and mirrors with the body) and is
missing otherwise. A derived joint is missing where any joint it needs is missing, and
takes the least visible flag of those it needs.

Classes are mapped by a table: built in for datasets that share classes (``LABEL_MAPPINGS``,
looked up by the two schema names), or from YAML::

    source: lip
    target: atr
    unmapped: ignore          # or background (the target's class 0); default ignore
    map: {Hat: Hat, Hair: Hair, Coat: Upper-clothes}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._refs import IGNORE_INDEX, SchemaError
from .atr import ATR
from .base import JointSchema, LabelSchema
from .cihp import CIHP
from .lip import LIP
from .pascal import PASCAL_PERSON_PART
from .relabel import lookup_table, relabel

# -- joints -------------------------------------------------------------------------------

# target joint -> {source joint: weight}, in canonical names. Approximations from body
# proportions, for sources without the joint (COCO, MediaPipe): the ear midpoint stands for
# the head's centre; the upper neck (where the neck meets the head) lies halfway from the
# thorax to it; the head top lies 0.65 of the thorax-to-ear distance beyond the ears (the
# crown is about 11 cm above the ears, the ears about 17 cm above the shoulder line).
DERIVED_JOINTS: dict[str, dict[str, float]] = {
    "pelvis": {"left_hip": 0.5, "right_hip": 0.5},
    "thorax": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "upper_neck": {"left_shoulder": 0.25, "right_shoulder": 0.25, "left_ear": 0.25, "right_ear": 0.25},
    "head_top": {"left_ear": 0.825, "right_ear": 0.825, "left_shoulder": -0.325, "right_shoulder": -0.325},
}


def canonical_joint(name: str) -> str:
    """``l_knee`` -> ``left_knee``; names compare lower-case."""
    name = name.lower()
    for short, long in (("l_", "left_"), ("r_", "right_")):
        if name.startswith(short):
            return long + name[len(short):]
    return name


@dataclass(frozen=True)
class JointMapping:
    """For each target joint, the (source joint, weight) terms that give it; () = always missing."""

    source: JointSchema
    target: JointSchema
    rules: tuple[tuple[tuple[int, float], ...], ...]

    @property
    def copied(self) -> tuple[str, ...]:
        return tuple(self.target.joints[t] for t, r in enumerate(self.rules) if len(r) == 1)

    @property
    def derived(self) -> tuple[str, ...]:
        return tuple(self.target.joints[t] for t, r in enumerate(self.rules) if len(r) > 1)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(self.target.joints[t] for t, r in enumerate(self.rules) if not r)

    def apply(self, keypoints: Any) -> np.ndarray:
        """(..., source joints, 3) (x, y, flag) -> (..., target joints, 3); missing = NaN, NaN, 0."""
        from ..data.sample import MISSING  # lazily: data imports schemas

        kp = np.asarray(keypoints)
        if kp.ndim < 2 or kp.shape[-2:] != (self.source.num_joints, 3):
            raise ValueError(
                f"keypoints of shape {kp.shape} are not (..., {self.source.num_joints}, 3) "
                f"for joint schema {self.source.name!r}"
            )
        kp = kp.astype(np.result_type(kp.dtype, np.float32), copy=False)
        out = np.full(kp.shape[:-2] + (self.target.num_joints, 3), np.nan, dtype=kp.dtype)
        out[..., 2] = MISSING
        present = (kp[..., 2] != MISSING) & np.isfinite(kp[..., :2]).all(axis=-1)
        for t, rule in enumerate(self.rules):
            if not rule:
                continue
            idx = [i for i, _ in rule]
            weights = np.asarray([w for _, w in rule], dtype=kp.dtype)
            ok = present[..., idx].all(axis=-1)
            xy = np.einsum("...jc,j->...c", np.where(ok[..., None, None], kp[..., idx, :2], 0), weights)
            out[..., t, :2] = np.where(ok[..., None], xy, np.nan)
            out[..., t, 2] = np.where(ok, kp[..., idx, 2].min(axis=-1), MISSING)
        return out


    def points(self, xy: Any) -> np.ndarray:
        """(..., source joints, 2) points (predicted joints) -> (..., target joints, 2); NaN
        for a target joint without a rule, or one whose source points are NaN."""
        from ..data.sample import MISSING, VISIBLE  # lazily: data imports schemas

        xy = np.asarray(xy, dtype=np.float64)
        flags = np.where(np.isfinite(xy).all(axis=-1), VISIBLE, MISSING)[..., None]
        return self.apply(np.concatenate([xy, flags], axis=-1))[..., :2]

    def describe(self) -> str:
        counts = [f"{len(self.copied)} copied by name"]
        if self.derived:
            counts.append(f"{', '.join(self.derived)} derived")
        if self.missing:
            counts.append(f"{', '.join(self.missing)} missing (never predicted, counted wrong)")
        return f"{self.source.name} joints scored as {self.target.name}: {'; '.join(counts)}"


def joint_mapping(source: JointSchema, target: JointSchema) -> JointMapping:
    """Target joints by name from the source, derived by ``DERIVED_JOINTS``, or missing."""
    by_name = {canonical_joint(n): i for i, n in enumerate(source.joints)}
    rules = []
    for name in target.joints:
        key = canonical_joint(name)
        if key in by_name:
            rules.append(((by_name[key], 1.0),))
        elif key in DERIVED_JOINTS and all(s in by_name for s in DERIVED_JOINTS[key]):
            rules.append(tuple((by_name[s], w) for s, w in DERIVED_JOINTS[key].items()))
        else:
            rules.append(())
    return JointMapping(source, target, tuple(rules))


# -- classes ------------------------------------------------------------------------------

_UNMAPPED = {"ignore": IGNORE_INDEX, "background": 0}


@dataclass(frozen=True)
class LabelMapping:
    """``targets[i]`` is the target class id of source class ``i`` (255 = ignore)."""

    source: LabelSchema
    target: LabelSchema
    targets: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.targets) != self.source.num_classes:
            raise SchemaError(
                f"mapping {self.source.name!r} -> {self.target.name!r}: {len(self.targets)} targets "
                f"for {self.source.num_classes} classes"
            )
        bad = [t for t in self.targets if not (0 <= t < self.target.num_classes or t == IGNORE_INDEX)]
        if bad:
            raise SchemaError(f"mapping {self.source.name!r} -> {self.target.name!r}: target ids {bad} out of range")

    def apply(self, label: Any) -> Any:
        """The label map (NumPy or torch) in target ids; 255 stays 255."""
        return relabel(label, lookup_table(self.targets, self.source.num_classes), f"schema {self.source.name!r}")

    def table(self) -> dict[str, str | None]:
        """Source class name -> target class name (None = ignore)."""
        return {
            s: (self.target.classes[t] if t != IGNORE_INDEX else None)
            for s, t in zip(self.source.classes, self.targets)
        }

    def to_dict(self) -> dict:
        mapped = {s: t for s, t in self.table().items() if t is not None}
        return {"source": self.source.name, "target": self.target.name, "unmapped": "ignore", "map": mapped}


def label_mapping(
    source: LabelSchema, target: LabelSchema, table: Mapping[Any, Any], unmapped: str = "ignore"
) -> LabelMapping:
    """A mapping from ``{source class: target class}`` (names or ids; target 255 = ignore);
    classes not in ``table`` go to ignore (255) or background (the target's class 0)."""
    where = f"mapping {source.name!r} -> {target.name!r}"
    if unmapped not in _UNMAPPED:
        raise SchemaError(f"{where}: 'unmapped' must be 'ignore' or 'background', not {unmapped!r}")
    unknown_source = [repr(s) for s in table if not _known(s, source.classes)]
    unknown_target = [repr(t) for t in table.values() if t != IGNORE_INDEX and not _known(t, target.classes)]
    problems = []
    if unknown_source:
        problems.append(f"unknown {source.name} classes {', '.join(unknown_source)}")
    if unknown_target:
        problems.append(f"unknown {target.name} classes {', '.join(unknown_target)}")
    if problems:
        raise SchemaError(f"{where}: {'; '.join(problems)}")
    targets = [_UNMAPPED[unmapped]] * source.num_classes
    for s, t in table.items():
        targets[_index(s, source.classes)] = IGNORE_INDEX if t == IGNORE_INDEX else _index(t, target.classes)
    return LabelMapping(source, target, tuple(targets))


def _known(ref: Any, names: tuple[str, ...]) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, (int, np.integer)):
        return 0 <= int(ref) < len(names)
    return isinstance(ref, str) and ref in names


def _index(ref: Any, names: tuple[str, ...]) -> int:
    return names.index(ref) if isinstance(ref, str) else int(ref)


def shared_classes(source: LabelSchema, target: LabelSchema) -> LabelMapping:
    """Each class to the target class of the same name; the others to ignore."""
    return label_mapping(source, target, {c: c for c in source.classes if c in target.classes})


# PASCAL-Person-Part splits arms and legs at the elbow and knee, which LIP's, CIHP's and ATR's
# classes do not, and garments (sleeves, trousers, dresses) span several parts: only classes
# that lie inside one part are mapped, the rest are ignored.
_HEAD = {"Hat": "head", "Hair": "head", "Sunglasses": "head", "Face": "head"}
_FEET = {"Left-shoe": "lower_legs", "Right-shoe": "lower_legs"}
_TO_PASCAL = {"Background": "background", **_HEAD, **_FEET}

LABEL_MAPPINGS: dict[tuple[str, str], LabelMapping] = {
    (m.source.name, m.target.name): m
    for m in (
        # The LIP paper's 16 classes common to LIP and ATR (Table 8).
        shared_classes(LIP, ATR),
        shared_classes(ATR, LIP),
        # The same order except class 10: LIP's Jumpsuits, CIHP's Torso-skin.
        shared_classes(CIHP, LIP),
        shared_classes(LIP, CIHP),
        # Gloves and socks hold hands and feet, which PASCAL counts with the lower arms and legs.
        label_mapping(LIP, PASCAL_PERSON_PART, {**_TO_PASCAL, "Glove": "lower_arms", "Socks": "lower_legs"}),
        label_mapping(
            CIHP,
            PASCAL_PERSON_PART,
            {**_TO_PASCAL, "Glove": "lower_arms", "Socks": "lower_legs", "Torso-skin": "torso"},
        ),
        label_mapping(ATR, PASCAL_PERSON_PART, _TO_PASCAL),
    )
}


def get_label_mapping(source: LabelSchema | str, target: LabelSchema | str) -> LabelMapping:
    """The built-in mapping between two schemas, by name (identity for a schema and itself)."""
    from . import get_label_schema

    src, tgt = get_label_schema(source), get_label_schema(target)
    if src == tgt:
        return LabelMapping(src, tgt, tuple(range(src.num_classes)))
    mapping = LABEL_MAPPINGS.get((src.name, tgt.name))
    if mapping is None:
        pairs = ", ".join(f"{a}->{b}" for a, b in LABEL_MAPPINGS)
        raise SchemaError(f"no built-in mapping {src.name!r} -> {tgt.name!r} (built in: {pairs}); give a YAML mapping")
    if (mapping.source, mapping.target) != (src, tgt):
        raise SchemaError(f"schemas named {src.name!r} and {tgt.name!r} differ from the built-in ones of those names")
    return mapping


_MAPPING_KEYS = {"source", "target", "unmapped", "map"}


def label_mapping_from_dict(data: Any, where: str | Path = "mapping") -> LabelMapping:
    """A mapping from its YAML content (or ``LabelMapping.to_dict()``)."""
    from . import get_label_schema

    if not isinstance(data, dict):
        raise SchemaError(f"{where}: a label mapping must be a mapping")
    unknown = set(data) - _MAPPING_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_MAPPING_KEYS)}")
    for key in ("source", "target", "map"):
        if key not in data:
            raise SchemaError(f"{where}: a label mapping needs {key!r}")
    if not isinstance(data["map"], dict):
        raise SchemaError(f"{where}: 'map' must be a mapping of source class to target class")
    try:
        return label_mapping(
            get_label_schema(data["source"]), get_label_schema(data["target"]), data["map"],
            str(data.get("unmapped", "ignore")),
        )
    except SchemaError as e:
        raise SchemaError(f"{where}: {e}") from e


def load_label_mapping(path: str | Path) -> LabelMapping:
    from .custom import read_yaml

    return label_mapping_from_dict(read_yaml(path), path)
