"""A user's own label or joint schema from a YAML file.

Label schema::

    name: tryon
    classes: [background, hair, face, upper, lower, left_arm, right_arm]
    palette: [[0,0,0], [255,0,0], ...]        # optional, one colour per class
    flip_pairs: [[left_arm, right_arm]]       # optional, names or ids
    groups:                                   # optional pseudo-joint groups
      head: [hair, face]
    hierarchy:                                # optional coarse levels, coarsest first; coarse ids
                                              # follow the order written (keep it when dumping YAML)
      full_body: {background: [background], person: [hair, face, upper, lower, left_arm, right_arm]}
      half_body:
        background: [background]
        upper_body: [hair, face, upper, left_arm, right_arm]
        lower_body: [lower]

Joint schema::

    name: mine
    joints: [head, neck, l_hand, r_hand]
    flip_pairs: [[l_hand, r_hand]]
    skeleton: [[head, neck], [neck, l_hand], [neck, r_hand]]
    pck: {kind: joints, joints: [head, neck], factor: 1.0}   # or {kind: headbox, factor: 0.6}
    mean_excluded: []
    table: {Head: [head], Hands: [l_hand, r_hand]}
    table_pooled: [Hands]                     # columns pooling counts, not averaging joints
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import read_yaml_mapping
from .base import JointSchema, LabelSchema, PCKReference, SchemaError

_LABEL_KEYS = {"name", "classes", "palette", "flip_pairs", "groups", "description", "hierarchy"}
_JOINT_KEYS = {
    "name", "joints", "flip_pairs", "skeleton", "pck", "mean_excluded", "table", "table_pooled", "description",
}


def read_yaml(path: str | Path) -> dict[str, Any]:
    return read_yaml_mapping(path, SchemaError, "a schema file")


def _mapping(value: Any, key: str, path: Path) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SchemaError(f"{path}: '{key}' must be a mapping")
    return value


def _sequence(value: Any, key: str, path: Path) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchemaError(f"{path}: '{key}' must be a list")
    return value


def _wrap(path: Path, build):
    try:
        return build()
    except SchemaError as e:
        raise SchemaError(f"{path}: {e}") from e
    except (TypeError, ValueError) as e:
        raise SchemaError(f"{path}: invalid schema: {e}") from e


def label_schema_from_dict(data: dict[str, Any], source: str | Path = "schema") -> LabelSchema:
    """A label schema from its mapping (a YAML file's content, or ``LabelSchema.to_dict()``).

    ``source`` names where the mapping came from, for error messages and the default name.
    """
    path = Path(source)
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: a schema must be a mapping")
    unknown = set(data) - _LABEL_KEYS
    if unknown:
        raise SchemaError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(_LABEL_KEYS)}")
    if "classes" not in data:
        raise SchemaError(f"{path}: a label schema needs 'classes'")
    groups = _mapping(data.get("groups"), "groups", path)
    hierarchy = {
        str(level): _mapping(spec, f"hierarchy.{level}", path)
        for level, spec in _mapping(data.get("hierarchy"), "hierarchy", path).items()
    }
    return _wrap(
        path,
        lambda: LabelSchema(
            name=str(data.get("name", path.stem)),
            classes=tuple(_sequence(data["classes"], "classes", path)),
            palette=tuple(tuple(c) for c in _sequence(data.get("palette"), "palette", path)),
            flip_pairs=tuple(tuple(p) for p in _sequence(data.get("flip_pairs"), "flip_pairs", path)),
            groups=tuple((str(g), tuple(_sequence(m, f"groups.{g}", path))) for g, m in groups.items()),
            description=str(data.get("description", "")),
            hierarchy=hierarchy,
        ),
    )


def load_label_schema(path: str | Path) -> LabelSchema:
    return label_schema_from_dict(read_yaml(path), path)


def joint_schema_from_dict(data: dict[str, Any], source: str | Path = "schema") -> JointSchema:
    """A joint schema from its mapping (a YAML file's content, or ``JointSchema.to_dict()``)."""
    path = Path(source)
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: a schema must be a mapping")
    unknown = set(data) - _JOINT_KEYS
    if unknown:
        raise SchemaError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(_JOINT_KEYS)}")
    if "joints" not in data:
        raise SchemaError(f"{path}: a joint schema needs 'joints'")
    pck = _mapping(data.get("pck"), "pck", path) or {"kind": "headbox", "factor": 0.6}
    table = _mapping(data.get("table"), "table", path)

    def build() -> JointSchema:
        joints_ref = pck.get("joints")
        reference = PCKReference(
            kind=str(pck.get("kind", "")),
            factor=float(pck.get("factor", 1.0)),
            joints=tuple(joints_ref) if joints_ref is not None else None,
        )
        return JointSchema(
            name=str(data.get("name", path.stem)),
            joints=tuple(_sequence(data["joints"], "joints", path)),
            flip_pairs=tuple(tuple(p) for p in _sequence(data.get("flip_pairs"), "flip_pairs", path)),
            skeleton=tuple(tuple(e) for e in _sequence(data.get("skeleton"), "skeleton", path)),
            pck=reference,
            mean_excluded=tuple(_sequence(data.get("mean_excluded"), "mean_excluded", path)),
            table=tuple((str(c), tuple(_sequence(m, f"table.{c}", path))) for c, m in table.items()),
            description=str(data.get("description", "")),
            table_pooled=tuple(str(c) for c in _sequence(data.get("table_pooled"), "table_pooled", path)),
        )

    return _wrap(path, build)


def load_joint_schema(path: str | Path) -> JointSchema:
    return joint_schema_from_dict(read_yaml(path), path)
