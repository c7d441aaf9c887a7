"""Label and joint schemas: what a dataset's class ids and joint indices mean.

Everything that depends on a label order (flip swaps, pseudo-joint groups, colours,
PCK reference lengths) reads it from a schema; nothing else hard-codes an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from ..errors import SchemaError  # re-exported: its historic home

IGNORE_INDEX = 255


def _resolve(ref: int | str, names: Sequence[str], what: str, schema: str) -> int:
    """Turn a class/joint reference given by name or index into an index."""
    if isinstance(ref, (bool, np.bool_)):
        raise SchemaError(f"schema {schema!r}: {what} reference {ref!r} is not a name or index")
    if isinstance(ref, (int, np.integer)):
        if not 0 <= int(ref) < len(names):
            raise SchemaError(
                f"schema {schema!r}: {what} index {ref} is out of range 0..{len(names) - 1}"
            )
        return int(ref)
    if isinstance(ref, str):
        if ref not in names:
            raise SchemaError(f"schema {schema!r}: unknown {what} {ref!r}")
        return names.index(ref)
    raise SchemaError(f"schema {schema!r}: {what} reference {ref!r} is not a name or index")


def _check_names(names: Sequence[str], what: str, schema: str) -> tuple[str, ...]:
    if not names:
        raise SchemaError(f"schema {schema!r}: no {what}s given")
    seen: set[str] = set()
    for n in names:
        if not isinstance(n, str) or not n:
            raise SchemaError(f"schema {schema!r}: {what} name {n!r} is not a non-empty string")
        if n in seen:
            raise SchemaError(f"schema {schema!r}: duplicate {what} name {n!r}")
        seen.add(n)
    return tuple(names)


def _check_pairs(
    pairs: Sequence[Sequence[int | str]], names: Sequence[str], what: str, schema: str
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    for pair in pairs:
        if len(pair) != 2:
            raise SchemaError(f"schema {schema!r}: {what} pair {list(pair)!r} must have two entries")
        a, b = (_resolve(p, names, what, schema) for p in pair)
        if a == b:
            raise SchemaError(f"schema {schema!r}: {what} pair ({a}, {b}) pairs an entry with itself")
        if a in used or b in used:
            raise SchemaError(f"schema {schema!r}: {what} {names[a]!r} or {names[b]!r} is in two pairs")
        used.update((a, b))
        out.append((a, b))
    return tuple(out)


def flip_permutation(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Index array p with p[i] = the mirror partner of i (i itself if it has none)."""
    perm = np.arange(n, dtype=np.int64)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


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
    centre is one pseudo-joint.
    """

    name: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        name = self.name
        classes = _check_names(self.classes, "class", name)
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
        pairs = _check_pairs(self.flip_pairs, classes, "class", name)
        groups = []
        group_names: set[str] = set()
        for group_name, members in self.groups:
            if group_name in group_names:
                raise SchemaError(f"schema {name!r}: duplicate group {group_name!r}")
            group_names.add(group_name)
            ids = tuple(_resolve(m, classes, "class", name) for m in members)
            if not ids:
                raise SchemaError(f"schema {name!r}: group {group_name!r} is empty")
            groups.append((group_name, ids))
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "palette", tuple(checked_palette))
        object.__setattr__(self, "flip_pairs", pairs)
        object.__setattr__(self, "groups", tuple(groups))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def flip_permutation(self) -> np.ndarray:
        return flip_permutation(self.num_classes, self.flip_pairs)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.groups)

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
    name -> joints averaged in it).
    """

    name: str
    joints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    pck: PCKReference = field(default_factory=lambda: PCKReference("headbox", 0.6))
    mean_excluded: tuple[int, ...] = ()
    table: tuple[tuple[str, tuple[int, ...]], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        name = self.name
        joints = _check_names(self.joints, "joint", name)
        pairs = _check_pairs(self.flip_pairs, joints, "joint", name)
        skeleton = []
        for edge in self.skeleton:
            if len(edge) != 2:
                raise SchemaError(f"schema {name!r}: skeleton edge {list(edge)!r} must have two joints")
            skeleton.append(tuple(_resolve(j, joints, "joint", name) for j in edge))
        pck = self.pck
        if pck.kind == "joints":
            assert pck.joints is not None
            pck = PCKReference(
                "joints", pck.factor, tuple(_resolve(j, joints, "joint", name) for j in pck.joints)
            )
        excluded = tuple(_resolve(j, joints, "joint", name) for j in self.mean_excluded)
        table = []
        for column, members in self.table or tuple((j, (i,)) for i, j in enumerate(joints)):
            table.append((column, tuple(_resolve(j, joints, "joint", name) for j in members)))
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "flip_pairs", pairs)
        object.__setattr__(self, "skeleton", tuple(skeleton))
        object.__setattr__(self, "pck", pck)
        object.__setattr__(self, "mean_excluded", excluded)
        object.__setattr__(self, "table", tuple(table))

    @property
    def num_joints(self) -> int:
        return len(self.joints)

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
            "description": self.description,
        }


def groups_from_mapping(groups: Mapping[str, Sequence[int | str]]) -> tuple:
    return tuple((g, tuple(m)) for g, m in groups.items())
