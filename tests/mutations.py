"""Hypothesis strategies that break valid files, for the fuzz tests of the readers and of the
scorer's inputs: json documents with fields replaced by arbitrary values, removed or nested
deeper; CSV rows with the wrong number of cells or text where numbers belong; .mat and .npy
variables of the wrong kind, shape or size; and any file's bytes cut short, overwritten,
re-encoded or replaced by random ones.

``FUZZ`` is the settings every fuzz test runs under: the same examples on every run
(``derandomize``), no example database, and a bound on each example's time.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import struct
import zlib
from datetime import timedelta
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Reproducible in CI, no .hypothesis folder, and a per-example deadline far above the few
# milliseconds one read takes, so that only a reader gone quadratic (or worse) trips it. 150
# examples per test: 15 tests, 2250 cases, about 25 s on two busy cores.
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Numbers around the limits readers enforce: past float32, past a million pixels, past int64.
AWKWARD_NUMBERS = st.sampled_from([10**30, -(10**30), 2**63, 2**64 + 1, 1e39, -1e39, 1e6 + 1, -1.5, 0.5, 3, -1])
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | AWKWARD_NUMBERS | st.floats() | st.text(max_size=12)
)
# Values that sit at the edge of what a field accepts: the numbers above, names too long for a
# file system or holding control characters, numbers written as text, NaN and infinities.
EDGE_VALUES = AWKWARD_NUMBERS | st.sampled_from(["a" * 5000, "a\nb.jpg", "a\x00.jpg", "", "1.5", "0", math.nan, math.inf])
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """The path (keys and indices) of every value inside ``node``, in document order."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    paths: list[tuple] = []
    for key, child in children:
        paths.append(prefix + (key,))
        paths += _paths(child, prefix + (key,))
    return paths


def _at(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated_json(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three of its values replaced by an arbitrary json value, an edge
    value or another of its own values, deleted, wrapped in a list or an object, or repeated."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(doc, path[:-1]), path[-1]
        operation = draw(
            st.sampled_from(["replace", "edge", "swap", "delete", "wrap in list", "wrap in object", "repeat"])
        )
        if operation == "replace":
            parent[key] = draw(JSON_VALUES)
        elif operation == "edge":
            parent[key] = draw(EDGE_VALUES)
        elif operation == "swap":
            parent[key] = copy.deepcopy(_at(doc, draw(st.sampled_from(paths))))
        elif operation == "delete":
            del parent[key]
        elif operation == "wrap in list":
            parent[key] = [parent[key]]
        elif operation == "wrap in object":
            parent[key] = {"value": parent[key]}
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut short, with bytes overwritten or inserted (non-UTF-8 ones among them),
    re-encoded as UTF-16 or Latin-1, or replaced by random bytes."""
    operation = draw(st.sampled_from(["truncate", "overwrite", "insert", "utf-16", "latin-1", "random"]))
    if operation == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if operation in ("overwrite", "insert"):
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(out)))
            piece = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xc3"]))
            out[at : at + (len(piece) if operation == "overwrite" else 0)] = piece
        return bytes(out)
    if operation in ("utf-16", "latin-1"):
        text = data.decode("utf-8", errors="replace") + draw(st.sampled_from(["", "é", "ü"]))
        return text.encode(operation, errors="replace")
    return draw(st.binary(max_size=300))


# Cell texts of CSV rows: numbers at and past the limits, names and flags, quotes and separators.
CELL_TEXTS = st.text(max_size=10) | st.sampled_from(
    ["nan", "inf", "-inf", "1e39", "-1e30", "1e6", "1000001", "0", "1", "2", "-1", "", " ", '"', "1_0", "0x10",
     "NaN", "a.jpg", "a,b", "\n", "\x00"]
)


@st.composite
def mutated_rows(draw: st.DrawFn, rows: list[list[str]]) -> bytes:
    """The CSV text of ``rows`` after one to three edits (a cell replaced, removed or added, a
    row removed, repeated or blank), written through ``csv.writer`` or joined by bare commas."""
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(rows) - 1)) if rows else 0
        operation = draw(st.sampled_from(["cell", "cell", "drop cell", "add cell", "drop row", "repeat row", "blank"]))
        if operation == "cell" and rows and rows[i]:
            rows[i][draw(st.integers(0, len(rows[i]) - 1))] = draw(CELL_TEXTS)
        elif operation == "drop cell" and rows and rows[i]:
            del rows[i][draw(st.integers(0, len(rows[i]) - 1))]
        elif operation == "add cell" and rows:
            rows[i].insert(draw(st.integers(0, len(rows[i]))), draw(CELL_TEXTS))
        elif operation == "drop row" and rows:
            del rows[i]
        elif operation == "repeat row" and rows:
            rows.insert(i, list(rows[i]))
        elif operation == "blank":
            rows.insert(i, [])
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode()
    return "".join(",".join(r) + "\n" for r in rows).encode()


# The bytes of valid files, for mutated_bytes to break.


def csv_text(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def mat_bytes(variables: dict[str, Any]) -> bytes:
    """A MATLAB 5 file of ``variables``, its header text (which holds the time) made constant,
    so that the examples drawn from it are the same on every run."""
    import scipy.io

    out = io.BytesIO()
    scipy.io.savemat(out, variables)
    return b"MATLAB 5.0 MAT-file, humanparse tests".ljust(116) + out.getvalue()[116:]


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def image_bytes(array: np.ndarray, format: str = "PNG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, format=format)
    return out.getvalue()


# Arrays of the kinds a .mat or .npy file can hold: numbers of several types (NaN, infinities
# and huge values among the floats), logicals, complex numbers and text, of small shapes.
ARRAY_DTYPES = st.sampled_from([np.float64, np.float32, np.int32, np.int64, np.uint8, np.bool_, np.complex128, "<U3"])
ARRAYS = hnp.arrays(ARRAY_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
# What else a MATLAB variable can be: text, a struct, a cell array.
MAT_OTHERS = st.sampled_from(["text", {"field": 1.0}, np.array([1, "a"], dtype=object), np.array([[1.0, 2.0]], dtype=object)])
SPECIAL_FLOATS = st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -1e30, 1e6 + 1, -1.0, 0.0, 2.0])


@st.composite
def mutated_arrays(draw: st.DrawFn, variables: dict[str, np.ndarray]) -> dict[str, Any]:
    """``variables`` (of a .mat file) with one or two of them replaced by an arbitrary array,
    text, struct or cell array, filled (at their own shape) with NaN, infinities or huge
    values, transposed, or deleted; or an unknown variable added."""
    out: dict[str, Any] = dict(variables)
    for _ in range(draw(st.integers(1, 2))):
        if not out:
            break
        key = draw(st.sampled_from(sorted(out)))
        operation = draw(st.sampled_from(["replace", "other", "fill", "transpose", "delete", "add"]))
        if operation == "replace":
            out[key] = draw(ARRAYS)
        elif operation == "other":
            out[key] = draw(MAT_OTHERS)
        elif operation == "fill" and isinstance(out[key], np.ndarray) and out[key].dtype.kind in "biuf":
            filled = np.asarray(out[key], dtype=np.float64).copy()
            if filled.size:
                filled.flat[draw(st.integers(0, filled.size - 1))] = draw(SPECIAL_FLOATS)
            out[key] = filled
        elif operation == "transpose" and hasattr(out[key], "T"):
            out[key] = out[key].T
        elif operation == "delete":
            del out[key]
        elif operation == "add":
            out["extra"] = draw(ARRAYS)
    return out


def png_claiming(width: int, height: int) -> bytes:
    """The bytes of an RGB PNG whose header claims ``width`` x ``height`` pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
