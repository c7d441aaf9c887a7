"""What every schema module shares: the error type (from :mod:`humanparse.errors`), the ignore id, and turning a class or joint
reference (a name or an index) into an index."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import SchemaError  # re-exported: the schema modules take it from here

IGNORE_INDEX = 255


def resolve(ref: int | str, names: Sequence[str], what: str, schema: str) -> int:
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


def check_names(names: Sequence[str], what: str, schema: str) -> tuple[str, ...]:
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


def check_pairs(
    pairs: Sequence[Sequence[int | str]], names: Sequence[str], what: str, schema: str
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    for pair in pairs:
        if len(pair) != 2:
            raise SchemaError(f"schema {schema!r}: {what} pair {list(pair)!r} must have two entries")
        a, b = (resolve(p, names, what, schema) for p in pair)
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
