"""Label and joint schemas: what a dataset's class ids and joint indices mean.

Everything that depends on a label order (flip swaps, pseudo-joint groups, colours,
PCK reference lengths) reads it from a schema; nothing else hard-codes an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ._refs import IGNORE_INDEX, SchemaError, check_names, check_pairs, flip_permutation, resolve
from .hierarchy import HierarchyLevel, build_hierarchy, level_labels, level_probabilities

if TYPE_CHECKING:
    from .mappings import JointMapping, LabelMapping

# IGNORE_INDEX, SchemaError and flip_permutation are imported from here across the package.
__all__ = ["IGNORE_INDEX", "JointSchema", "LabelSchema", "PCKReference", "SchemaError", "flip_permutation"]


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC bit-interleaved palette, for schemas that have no palette of their own."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


@dataclass(frozen=True)
class LabelSchema:
    """Classes of a parsing dataset.

    ``flip_pairs`` are (left, right) class ids, where "left" is the person's left.
    ``groups`` are the pseudo-joint groups of the structure-sensitive loss: each group's
    centre is one pseudo-joint. ``hierarchy`` holds named coarse levels, coarsest first, each
    mapping every class to one coarse class (see ``hierarchy.py``); given as
    ``{level: {coarse: [classes]}}``, held as ``HierarchyLevel``s.
    """

    name: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()
    description: str = ""
    hierarchy: tuple[HierarchyLevel, ...] = ()

    def __post_init__(self) -> None:
        name = self.name
        classes = check_names(self.classes, "class", name)
        if len(classes) > IGNORE_INDEX:
            raise SchemaError(f"schema {name!r}: at most {IGNORE_INDEX} classes (255 means ignore)")
        palette = self.palette or default_palette(len(classes))
        if len(palette) != len(classes):
            raise SchemaError(
                f"schema {name!r}: palette has {len(palette)} colours for {len(classes)} classes"
            )
        checked_palette = []
        for i, colour in enumerate(palette):
            if len(colour) != 3 or not all(
                isinstance(c, (int, np.integer)) and 0 <= int(c) <= 255 for c in colour
            ):
                raise SchemaError(
                    f"schema {name!r}: palette entry {i} {list(colour)!r} is not three integers 0..255"
                )
            checked_palette.append(tuple(int(c) for c in colour))
        pairs = check_pairs(self.flip_pairs, classes, "class", name)
        groups = []
        group_names: set[str] = set()
        for group_name, members in self.groups:
            if group_name in group_names:
                raise SchemaError(f"schema {name!r}: duplicate group {group_name!r}")
            group_names.add(group_name)
            ids = tuple(resolve(m, classes, "class", name) for m in members)
            if not ids:
                raise SchemaError(f"schema {name!r}: group {group_name!r} is empty")
            groups.append((group_name, ids))
        hierarchy = build_hierarchy(self.hierarchy, classes, pairs, name)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "palette", tuple(checked_palette))
        object.__setattr__(self, "flip_pairs", pairs)
        object.__setattr__(self, "groups", tuple(groups))
        object.__setattr__(self, "hierarchy", hierarchy)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def flip_permutation(self) -> np.ndarray:
        return flip_permutation(self.num_classes, self.flip_pairs)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.groups)

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.hierarchy)

    def level(self, name: str) -> HierarchyLevel:
        """The hierarchy level called ``name``."""
        for lv in self.hierarchy:
            if lv.name == name:
                return lv
        have = ", ".join(self.level_names) or "none"
        raise SchemaError(f"schema {self.name!r}: no hierarchy level {name!r} (levels: {have})")

    def level_labels(self, label: Any, level: str) -> Any:
        """A label map (NumPy or torch) in ``level``'s coarse ids; 255 stays 255."""
        return level_labels(self, label, level)

    def level_probabilities(self, probs: Any, level: str, dim: int = 1) -> Any:
        """Class probabilities summed into ``level``'s coarse classes (classes along ``dim``)."""
        return level_probabilities(self, probs, level, dim)

    def mapping_to(self, other: LabelSchema | str) -> LabelMapping:
        """The built-in class mapping from this schema to ``other`` (see ``mappings.py``)."""
        from .mappings import get_label_mapping

        return get_label_mapping(self, other)

    def palette_array(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours."""
        return np.asarray(self.palette, dtype=np.uint8)

    def flat_palette(self) -> list[int]:
        """768 entries for ``PIL.Image.putpalette``; unused entries (255 = ignore) are white."""
        flat = [255] * 768
        for i, (r, g, b) in enumerate(self.palette):
            flat[3 * i : 3 * i + 3] = [r, g, b]
        return flat

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "palette": [list(c) for c in self.palette],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "groups": {g: list(ids) for g, ids in self.groups},
            "description": self.description,
            "hierarchy": {lv.name: lv.to_dict(self.classes) for lv in self.hierarchy},
        }


@dataclass(frozen=True)
class PCKReference:
    """How the reference length of PCK is measured.

    ``kind="headbox"``: ``factor`` times the diagonal of the annotated head box (MPII PCKh).
    ``kind="joints"``: ``factor`` times the distance between two ground-truth joints
    (LIP: upper neck to head top).
    """

    kind: str
    factor: float = 1.0
    joints: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("headbox", "joints"):
            raise SchemaError(f"PCK reference kind must be 'headbox' or 'joints', not {self.kind!r}")
        if self.kind == "joints" and (self.joints is None or len(self.joints) != 2):
            raise SchemaError("a 'joints' PCK reference needs two joints")
        if not self.factor > 0:
            raise SchemaError(f"PCK reference factor must be positive, not {self.factor}")


@dataclass(frozen=True)
class JointSchema:
    """Keypoints of a pose dataset.

    ``flip_pairs`` are (left, right) joint indices; ``skeleton`` the edges to draw;
    ``pck`` the reference-length rule; ``mean_excluded`` the joints left out of the mean
    PCK; ``table`` the columns of the per-joint table as the papers print them (column
    name -> joints averaged in it); ``table_pooled`` the columns that pool their joints'
    counts instead, as the mean does (PIL's "U.Body").
    """

    name: str
    joints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    pck: PCKReference = field(default_factory=lambda: PCKReference("headbox", 0.6))
    mean_excluded: tuple[int, ...] = ()
    table: tuple[tuple[str, tuple[int, ...]], ...] = ()
    description: str = ""
    table_pooled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = self.name
        joints = check_names(self.joints, "joint", name)
        pairs = check_pairs(self.flip_pairs, joints, "joint", name)
        skeleton = []
        for edge in self.skeleton:
            if len(edge) != 2:
                raise SchemaError(f"schema {name!r}: skeleton edge {list(edge)!r} must have two joints")
            skeleton.append(tuple(resolve(j, joints, "joint", name) for j in edge))
        pck = self.pck
        if pck.kind == "joints":
            assert pck.joints is not None
            pck = PCKReference(
                "joints", pck.factor, tuple(resolve(j, joints, "joint", name) for j in pck.joints)
            )
        excluded = tuple(resolve(j, joints, "joint", name) for j in self.mean_excluded)
        table = []
        for column, members in self.table or tuple((j, (i,)) for i, j in enumerate(joints)):
            table.append((column, tuple(resolve(j, joints, "joint", name) for j in members)))
        unknown = [c for c in self.table_pooled if c not in {column for column, _ in table}]
        if unknown:
            raise SchemaError(f"schema {name!r}: pooled table columns {unknown} are not table columns")
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "flip_pairs", pairs)
        object.__setattr__(self, "skeleton", tuple(skeleton))
        object.__setattr__(self, "pck", pck)
        object.__setattr__(self, "mean_excluded", excluded)
        object.__setattr__(self, "table", tuple(table))
        object.__setattr__(self, "table_pooled", tuple(self.table_pooled))

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def mapping_to(self, other: JointSchema | str) -> JointMapping:
        """How to carry keypoints of this schema onto ``other`` by joint name, deriving what
        ``other`` has and this lacks where a rule exists (see ``mappings.py``)."""
        from . import get_joint_schema
        from .mappings import joint_mapping

        return joint_mapping(self, get_joint_schema(other))

    @property
    def flip_permutation(self) -> np.ndarray:
        return flip_permutation(self.num_joints, self.flip_pairs)

    def to_dict(self) -> dict:
        pck: dict = {"kind": self.pck.kind, "factor": self.pck.factor}
        if self.pck.joints is not None:
            pck["joints"] = list(self.pck.joints)
        return {
            "name": self.name,
            "joints": list(self.joints),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "skeleton": [list(e) for e in self.skeleton],
            "pck": pck,
            "mean_excluded": list(self.mean_excluded),
            "table": {c: list(m) for c, m in self.table},
            "table_pooled": list(self.table_pooled),
            "description": self.description,
        }


def groups_from_mapping(groups: Mapping[str, Sequence[int | str]]) -> tuple:
    return tuple((g, tuple(m)) for g, m in groups.items())
