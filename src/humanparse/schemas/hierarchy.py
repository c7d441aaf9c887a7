"""Coarse levels of a label schema: each level maps every fine class to one coarse class.

A hierarchy is data. Levels run from the coarsest to the finest; the schema's own classes
are the leaves below the last level. HIPN's body hierarchy, for instance, is::

    full_body:  {background: [Background], person: [every other class]}
    half_body:  {background: [Background], upper_body: [...], lower_body: [...]}

and the parts (the schema's classes) below it. Each coarse class of a level lies inside one
class of the level above ("each parent node covers its child nodes"), and the levels keep
left/right pairs: the mirror of a coarse class's members is again one coarse class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ._refs import SchemaError, check_names, flip_permutation, resolve
from .relabel import lookup_table, relabel

if TYPE_CHECKING:
    from .base import LabelSchema


@dataclass(frozen=True)
class HierarchyLevel:
    """One level: coarse class names and, for each, the fine class ids it covers.

    ``flip_pairs`` are the coarse (left, right) pairs that the fine pairs imply.
    """

    name: str
    classes: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def parent_of(self) -> np.ndarray:
        """(num fine classes,) the coarse id of each fine class."""
        parent = np.empty(sum(len(m) for m in self.members), dtype=np.int64)
        for coarse, fine in enumerate(self.members):
            parent[list(fine)] = coarse
        return parent

    @property
    def flip_permutation(self) -> np.ndarray:
        return flip_permutation(self.num_classes, self.flip_pairs)

    def membership(self) -> np.ndarray:
        """(coarse, fine) 0/1 float32 matrix: 1 where the fine class lies in the coarse one."""
        parent = self.parent_of
        m = np.zeros((self.num_classes, parent.size), dtype=np.float32)
        m[parent, np.arange(parent.size)] = 1.0
        return m

    def to_dict(self, fine_names: Sequence[str]) -> dict[str, list[str]]:
        return {c: [fine_names[i] for i in ids] for c, ids in zip(self.classes, self.members)}


def _level_items(spec: Any, where: str) -> list[tuple[str, Sequence[int | str]]]:
    if isinstance(spec, Mapping):
        return list(spec.items())
    try:
        items = [tuple(item) for item in spec]
    except TypeError:
        raise SchemaError(f"{where} must map coarse class names to lists of classes") from None
    if any(len(item) != 2 for item in items):
        raise SchemaError(f"{where} must map coarse class names to lists of classes")
    return items  # type: ignore[return-value]


def _build_level(
    level: str, spec: Any, classes: Sequence[str], flip: np.ndarray, schema: str
) -> HierarchyLevel:
    where = f"schema {schema!r}: hierarchy level {level!r}"
    items = _level_items(spec, where)
    coarse = check_names([c for c, _ in items], f"hierarchy level {level!r} class", schema)
    owner: dict[int, str] = {}
    members = []
    for name, refs in items:
        if isinstance(refs, (str, int)) or not refs:
            raise SchemaError(f"{where}: coarse class {name!r} needs a non-empty list of classes")
        ids = tuple(resolve(r, classes, "class", schema) for r in refs)
        for i in ids:
            if i in owner:
                raise SchemaError(f"{where}: class {classes[i]!r} is in both {owner[i]!r} and {name!r}")
            owner[i] = name
        members.append(ids)
    missing = [classes[i] for i in range(len(classes)) if i not in owner]
    if missing:
        raise SchemaError(f"{where}: classes not mapped to a coarse class: {', '.join(missing)}")
    parent = np.empty(len(classes), dtype=np.int64)
    for k, ids in enumerate(members):
        parent[list(ids)] = k
    # A coarse class's mirror must again be one coarse class, or flipping a level map is undefined.
    pairs: list[tuple[int, int]] = []
    for k, ids in enumerate(members):
        partner = int(parent[flip[ids[0]]])
        if {int(flip[i]) for i in ids} != set(members[partner]):
            raise SchemaError(f"{where}: the mirror of coarse class {coarse[k]!r} is not one coarse class")
        if partner > k:
            pairs.append((k, partner))
    return HierarchyLevel(level, coarse, tuple(members), tuple(pairs))


def build_hierarchy(
    spec: Any, classes: Sequence[str], flip_pairs: Sequence[tuple[int, int]], schema: str
) -> tuple[HierarchyLevel, ...]:
    """Validated levels from a mapping ``{level: {coarse: [fine classes]}}``, a sequence of
    ``(level, {coarse: [...]})`` or of ``HierarchyLevel`` (as a schema holds them)."""
    if not spec:
        return ()
    flip = flip_permutation(len(classes), flip_pairs)
    entries: Iterable[Any] = spec.items() if isinstance(spec, Mapping) else spec
    levels: list[HierarchyLevel] = []
    for entry in entries:
        if isinstance(entry, HierarchyLevel):
            name, level_spec = entry.name, list(zip(entry.classes, entry.members))
        else:
            name, level_spec = entry
        if not isinstance(name, str) or not name:
            raise SchemaError(f"schema {schema!r}: hierarchy level name {name!r} is not a non-empty string")
        if any(lv.name == name for lv in levels):
            raise SchemaError(f"schema {schema!r}: duplicate hierarchy level {name!r}")
        level = _build_level(name, level_spec, classes, flip, schema)
        if levels:
            _check_nested(levels[-1], level, classes, schema)
        levels.append(level)
    return tuple(levels)


def _check_nested(upper: HierarchyLevel, lower: HierarchyLevel, classes: Sequence[str], schema: str) -> None:
    parent = upper.parent_of
    for name, ids in zip(lower.classes, lower.members):
        above = {upper.classes[parent[i]] for i in ids}
        if len(above) > 1:
            raise SchemaError(
                f"schema {schema!r}: hierarchy level {lower.name!r} class {name!r} spans "
                f"{', '.join(sorted(above))} of level {upper.name!r}; a finer level must nest in the coarser"
            )


@dataclass(frozen=True)
class HierarchyTree:
    """A hierarchy as a tree of nodes below a root, as HIPN reasons over it.

    The nodes are every coarse class of every level but background's, coarsest level first,
    then every class of the schema but background (the leaves, in class order). A node's
    parent is the node of the level above that covers it (the root for the coarsest level,
    and for the leaves when there are no levels). ``members`` are the classes a node covers:
    its *virtual category*, the union of its descendants.
    """

    parents: tuple[int, ...]  # node -> parent node; -1 is the root
    members: tuple[tuple[int, ...], ...]  # node -> the classes it covers
    depths: tuple[int, ...]  # node -> 0 for the coarsest level .. number of levels for a leaf
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return len(self.parents)

    @property
    def leaves(self) -> tuple[int, ...]:
        deepest = max(self.depths, default=0)
        return tuple(n for n, d in enumerate(self.depths) if d == deepest)

    def children(self, node: int) -> tuple[int, ...]:
        """The children of ``node`` (-1: the root), in node order."""
        return tuple(n for n, p in enumerate(self.parents) if p == node)

    def families(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """(parent, children) for every parent, top-down: a parent comes after its own parent."""
        parents = (-1, *(n for n in range(self.num_nodes) if self.children(n)))
        return tuple((p, self.children(p)) for p in parents)

    def mask_table(self) -> np.ndarray:
        """(num_nodes, num_classes) 0/1 int64: 1 where the class lies in the node's virtual category."""
        table = np.zeros((self.num_nodes, self.num_classes), dtype=np.int64)
        for n, ids in enumerate(self.members):
            table[n, list(ids)] = 1
        return table


def hierarchy_tree(level_parents: Sequence[Sequence[int]], num_classes: int, background: int = 0) -> HierarchyTree:
    """The tree of levels given as each level's coarse id per class (``HierarchyLevel.parent_of``,
    coarsest first; ``[]``: the leaves hang from the root). ``background`` must be alone in its
    coarse class at every level: that class is no node."""
    levels = [np.asarray(p, dtype=np.int64) for p in level_parents]
    if not 0 <= background < num_classes:
        raise ValueError(f"background class {background} is not one of the {num_classes} classes")
    parents: list[int] = []
    members: list[tuple[int, ...]] = []
    depths: list[int] = []
    node_of: dict[int, int] = {}  # coarse id of the level above -> its node
    for depth, parent_of in enumerate(levels):
        if parent_of.shape != (num_classes,):
            raise ValueError(f"hierarchy level {depth} maps {parent_of.size} classes, not {num_classes}")
        background_coarse = int(parent_of[background])
        if int((parent_of == background_coarse).sum()) != 1:
            raise ValueError(f"hierarchy level {depth}: the background class must be alone in its coarse class")
        above = levels[depth - 1] if depth else None
        level_nodes: dict[int, int] = {}
        for coarse in sorted(set(parent_of.tolist()) - {background_coarse}):
            ids = tuple(int(i) for i in np.flatnonzero(parent_of == coarse))
            level_nodes[coarse] = len(parents)
            parents.append(-1 if above is None else node_of[int(above[ids[0]])])
            members.append(ids)
            depths.append(depth)
        node_of = level_nodes
    last = levels[-1] if levels else None
    for c in range(num_classes):
        if c != background:
            parents.append(-1 if last is None else node_of[int(last[c])])
            members.append((c,))
            depths.append(len(levels))
    return HierarchyTree(tuple(parents), tuple(members), tuple(depths), num_classes)


def schema_tree_spec(schema: LabelSchema) -> list[list[int]]:
    """A schema's levels as plain data for a model spec: each level's coarse id per class."""
    return [lv.parent_of.tolist() for lv in schema.hierarchy]


def body_hierarchy(background: str, upper: tuple[str, ...], lower: tuple[str, ...]) -> dict:
    """HIPN's two levels above the parts: full body (person), then upper and lower body."""
    return {
        "full_body": {"background": (background,), "person": upper + lower},
        "half_body": {"background": (background,), "upper_body": upper, "lower_body": lower},
    }


def level_labels(schema: LabelSchema, label: Any, level: str) -> Any:
    """The label map (NumPy or torch, any shape) in ``level``'s coarse ids; 255 stays 255."""
    lv = schema.level(level)
    return relabel(label, lookup_table(lv.parent_of.tolist(), schema.num_classes), f"schema {schema.name!r}")


def level_probabilities(schema: LabelSchema, probs: Any, level: str, dim: int = 1) -> Any:
    """Fine class probabilities (NumPy or torch, classes along ``dim``) summed into ``level``'s
    coarse classes: a virtual parent's probability is the sum of its children's."""
    lv = schema.level(level)
    if probs.shape[dim] != schema.num_classes:
        raise ValueError(
            f"probabilities have {probs.shape[dim]} classes along dim {dim}; schema {schema.name!r} has "
            f"{schema.num_classes}"
        )
    m = lv.membership()
    if type(probs).__module__.startswith("torch"):
        import torch

        mt = torch.as_tensor(m, dtype=probs.dtype, device=probs.device)
        return torch.movedim(torch.movedim(probs, dim, -1) @ mt.T, -1, dim)
    probs = np.asarray(probs)
    return np.moveaxis(np.moveaxis(probs, dim, -1) @ m.T.astype(probs.dtype, copy=False), -1, dim)


def print_hierarchy(schema: LabelSchema, file: IO[str] | None = None) -> None:
    """Print each level's coarse classes and the fine classes they cover (nothing without levels)."""
    for lv in schema.hierarchy:
        print(f"  level {lv.name}: {lv.num_classes} classes", file=file)
        for k, (name, ids) in enumerate(zip(lv.classes, lv.members)):
            print(f"    {k:>3} {name}: {', '.join(schema.classes[i] for i in ids)}", file=file)
