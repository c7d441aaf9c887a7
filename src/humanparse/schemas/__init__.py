"""Label and joint schemas as data: built-in ones by name, a user's from YAML."""

from __future__ import annotations

from pathlib import Path

from .atr import ATR
from .base import IGNORE_INDEX, JointSchema, LabelSchema, PCKReference, SchemaError, flip_permutation
from .ccp import CCP
from .cihp import CIHP
from .coco import COCO_JOINTS
from .custom import joint_schema_from_dict, label_schema_from_dict, load_joint_schema, load_label_schema
from .hierarchy import HierarchyLevel, HierarchyTree, hierarchy_tree, print_hierarchy, schema_tree_spec
from .lip import LIP, LIP_JOINTS
from .mappings import (
    DERIVED_JOINTS,
    LABEL_MAPPINGS,
    JointMapping,
    LabelMapping,
    get_label_mapping,
    joint_mapping,
    label_mapping,
    label_mapping_from_dict,
    load_label_mapping,
)
from .mediapipe import MEDIAPIPE_POSE
from .mpii import MPII_JOINTS
from .pascal import PASCAL_PERSON_PART

LABEL_SCHEMAS: dict[str, LabelSchema] = {
    s.name: s for s in (LIP, CIHP, ATR, PASCAL_PERSON_PART, CCP)
}
JOINT_SCHEMAS: dict[str, JointSchema] = {s.name: s for s in (LIP_JOINTS, MPII_JOINTS, COCO_JOINTS, MEDIAPIPE_POSE)}


def _is_yaml_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def get_label_schema(name: str | LabelSchema) -> LabelSchema:
    """A built-in label schema by name, or a user's from a ``.yaml`` path."""
    if isinstance(name, LabelSchema):
        return name
    if _is_yaml_path(str(name)) or Path(str(name)).is_file():
        return load_label_schema(name)
    try:
        return LABEL_SCHEMAS[name]
    except KeyError:
        raise SchemaError(
            f"unknown label schema {name!r}; built in: {', '.join(LABEL_SCHEMAS)} (or a .yaml file)"
        ) from None


def get_joint_schema(name: str | JointSchema) -> JointSchema:
    """A built-in joint schema by name, or a user's from a ``.yaml`` path."""
    if isinstance(name, JointSchema):
        return name
    if _is_yaml_path(str(name)) or Path(str(name)).is_file():
        return load_joint_schema(name)
    try:
        return JOINT_SCHEMAS[name]
    except KeyError:
        raise SchemaError(
            f"unknown joint schema {name!r}; built in: {', '.join(JOINT_SCHEMAS)} (or a .yaml file)"
        ) from None


__all__ = [
    "ATR", "CCP", "CIHP", "COCO_JOINTS", "DERIVED_JOINTS", "IGNORE_INDEX", "JOINT_SCHEMAS", "LABEL_MAPPINGS",
    "LABEL_SCHEMAS", "LIP", "LIP_JOINTS", "MEDIAPIPE_POSE", "MPII_JOINTS", "PASCAL_PERSON_PART", "HierarchyLevel", "HierarchyTree",
    "JointMapping", "JointSchema", "LabelMapping", "LabelSchema", "PCKReference", "SchemaError", "flip_permutation",
    "get_joint_schema", "get_label_mapping", "get_label_schema", "hierarchy_tree", "joint_mapping", "joint_schema_from_dict",
    "label_mapping", "label_mapping_from_dict", "label_schema_from_dict", "load_joint_schema", "load_label_mapping",
    "load_label_schema", "print_hierarchy", "schema_tree_spec",
]
