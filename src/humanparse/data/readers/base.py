"""What every dataset reader shares.

A reader lists the sample ids of a dataset split and loads one :class:`Sample` by index,
so it works as a map-style ``torch.utils.data.Dataset``. Loading goes through
:meth:`Reader.inspect`, which gathers every problem of a sample (unreadable image, bad
label, size mismatch) instead of stopping at the first; ``__getitem__`` raises the
first of them. Problems of the dataset as a whole (a label with no image, a bad pose
CSV row, an id listed twice) are raised at construction by a strict reader and
collected in ``problems`` by a lenient one (``strict=False``, what ``data check`` uses).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from ...schemas import JointSchema, LabelSchema, get_joint_schema, get_label_schema
from ..image_io import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DataError, read_image, read_label
from ..sample import MapSpec, Sample

# Split names in the order they are reported; other names found on disk come after.
KNOWN_SPLITS = ("train", "val", "test", "trainval")

# Numbers in annotation and prediction files are pixel positions, sizes and flags: one beyond a
# million is a broken file, not an annotation, and passed on it would overflow the float32
# keypoints further down.
MAX_MAGNITUDE = 1e6
# Image names and ids read from files: longer than this is longer than any path Linux accepts.
MAX_NAME_LENGTH = 4096


@dataclass
class Inspection:
    """One sample as far as it could be read, and every problem found on the way."""

    id: str
    meta: dict[str, Any]
    image: np.ndarray | None = None
    label: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    errors: list[DataError] = field(default_factory=list)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    map_specs: dict[str, MapSpec] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def sample(self) -> Sample:
        """The :class:`Sample`; raises the first problem if there was one."""
        if self.errors:
            raise self.errors[0]
        assert self.image is not None
        return Sample(image=self.image, label=self.label, keypoints=self.keypoints, meta=self.meta,
                      maps=self.maps, map_specs=self.map_specs)


class Reader(ABC):
    """A dataset split (or all splits) as a sequence of samples."""

    format_name: ClassVar[str] = ""
    # Name of the label schema (parsing formats) or joint schema (pose-only formats) used
    # when none is given; None means the user must name one.
    default_schema: ClassVar[str | None] = None
    # True for formats whose ``schema`` argument names a joint schema.
    pose_only: ClassVar[bool] = False
    # The layouts the format accepts, for messages when none is found.
    layout_hint: ClassVar[str] = ""
    # True for formats that take their joints from a separate file (``keypoints=PATH``).
    takes_keypoints_file: ClassVar[bool] = False

    def __init__(
        self, root: str | Path, split: str | None = None, *, strict: bool = True,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        """``max_pixels``: images and labels over this many pixels are a problem of their sample,
        found from the file's header before it is decoded (None: no limit)."""
        self.root = Path(root)
        if not self.root.exists():
            raise DataError(self.root, "dataset root does not exist")
        self.split = split
        self.strict = strict
        self.max_pixels = max_pixels
        self.problems: list[DataError] = []
        self.schema: LabelSchema | None = None
        self.joint_schema: JointSchema | None = None
        # Set when the keypoints are not the dataset's own annotations (a pose detector's, a
        # teacher's targets): says where they come from, for every report that scores against them.
        self.keypoints_origin: str | None = None

    @classmethod
    @abstractmethod
    def find_splits(cls, root: str | Path) -> list[str | None]:
        """The splits present under ``root`` (``[None]`` for a dataset without splits)."""

    @classmethod
    def resolve_schema(cls, schema: str | LabelSchema | JointSchema | None, root: str | Path) -> Any:
        """The schema object for ``schema`` or the format's default; a clear error when neither."""
        name = schema if schema is not None else cls.default_schema
        if name is None:
            raise DataError(
                root,
                f"the {cls.format_name!r} format has no label schema of its own: name one "
                "(--schema lip, cihp, atr, pascal_person_part, ccp, or a .yaml file)",
            )
        return get_joint_schema(name) if cls.pose_only else get_label_schema(name)  # type: ignore[arg-type]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def sample_id(self, index: int) -> str: ...

    @abstractmethod
    def inspect(self, index: int) -> Inspection:
        """Load sample ``index``, collecting every problem instead of raising."""

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        return self.inspect(index % n).sample()

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def _problem(self, error: DataError) -> None:
        """A problem of the dataset as a whole: strict readers stop, lenient ones note it."""
        if self.strict:
            raise error
        self.problems.append(error)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"


# ---------------------------------------------------------------------------------------
# Finding files on disk


def _child(parent: Path, name: str) -> Path | None:
    """``parent / name``, matched case-insensitively when the exact name is absent (copies of
    LIP spell ``TrainVal_parsing_annotations`` as ``Trainval_...``)."""
    exact = parent / name
    if exact.exists():
        return exact
    if not parent.is_dir():
        return None
    lowered = name.lower()
    for entry in sorted(parent.iterdir()):
        if entry.name.lower() == lowered:
            return entry
    return None


def _lookup(base: Path, relative: str) -> Path | None:
    path: Path | None = base
    for part in Path(relative).parts:
        assert path is not None
        path = _child(path, part)
        if path is None:
            return None
    return path


def find_dir(base: Path, *candidates: str) -> Path | None:
    """The first of ``candidates`` (paths relative to ``base``) that is a folder."""
    for candidate in candidates:
        path = _lookup(base, candidate)
        if path is not None and path.is_dir():
            return path
    return None


def find_file(base: Path, *candidates: str) -> Path | None:
    """The first of ``candidates`` (paths relative to ``base``) that is a file."""
    for candidate in candidates:
        path = _lookup(base, candidate)
        if path is not None and path.is_file():
            return path
    return None


def order_splits(names: set[str]) -> list[str | None]:
    return [s for s in KNOWN_SPLITS if s in names] + sorted(names - set(KNOWN_SPLITS))


def id_list_candidates(split: str) -> tuple[str, ...]:
    return (f"{split}_id.txt", f"{split}.txt")


def find_id_list(dirs: Sequence[Path], split: str) -> Path | None:
    for d in dirs:
        found = find_file(d, *id_list_candidates(split))
        if found is not None:
            return found
    return None


def splits_with_id_lists(dirs: Sequence[Path]) -> list[str | None]:
    """Split names of the id lists in ``dirs``: any ``NAME_id.txt``, and ``NAME.txt`` for the
    usual split names (other ``.txt`` files, e.g. ``train_rev.txt``, are not id lists)."""
    names: set[str] = set()
    for d in dirs:
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            lowered = entry.name.lower()
            if not entry.is_file() or not lowered.endswith(".txt"):
                continue
            if lowered.endswith("_id.txt"):
                names.add(lowered[: -len("_id.txt")])
            elif lowered[: -len(".txt")] in KNOWN_SPLITS:
                names.add(lowered[: -len(".txt")])
    return order_splits(names)


def index_files(folder: Path, suffixes: Sequence[str]) -> tuple[dict[str, Path], list[DataError]]:
    """Stem -> file for the files of ``folder`` with one of ``suffixes`` (case-insensitive).

    Two files with the same stem (``a.jpg`` and ``a.png``) make the id ambiguous: the first
    in name order is kept and the other is reported.
    """
    found: dict[str, Path] = {}
    errors: list[DataError] = []
    wanted = tuple(s.lower() for s in suffixes)
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.name.lower().endswith(wanted) and e.is_file())
    for name in names:
        stem = name.rsplit(".", 1)[0]
        if stem in found:
            errors.append(DataError(folder / name, f"a second file for id {stem!r} (besides {found[stem].name})"))
            continue
        found[stem] = folder / name
    return found, errors


_ID_SUFFIXES = tuple(IMAGE_EXTENSIONS) + (".mat",)


def id_from_token(token: str) -> str:
    """``0002190``, ``/images/0002190.jpg`` or ``images\\0002190.jpg`` -> ``0002190``."""
    name = token.replace("\\", "/").rsplit("/", 1)[-1]
    if name.lower().endswith(_ID_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    return name


def shorten(text: str, limit: int = 80) -> str:
    """``text`` as it may appear in a one-line message: cut after ``limit`` characters."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def name_problem(name: str) -> str | None:
    """Why ``name``, read from a file, cannot name an image or a sample (``"is empty"``, ...), or None."""
    if not name:
        return "is empty"
    control = _CONTROL_CHARACTER.search(name)
    if control is not None:  # a NUL ends a path; a newline would split the message naming it
        return f"holds a control character ({control.group()!r})"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    return None


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped). A missing or unreadable
    file, or one that is not UTF-8 (the line of the first bad byte is named), is a DataError."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(path, f"{what} does not exist")
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, f"{what} cannot be read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(path, f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x} on line {line})") from None


def read_id_list(path: Path) -> tuple[list[str], list[DataError]]:
    """Ids of an id list: one per line; the first whitespace-separated token counts, so lists
    of ``/images/x.jpg /labels/x.png`` pairs work too. Repeated or unusable ids are reported."""
    text = read_text_file(path, "id list")
    ids: list[str] = []
    first_line: dict[str, int] = {}
    errors: list[DataError] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = line.split()[0]
        problem = name_problem(token)
        if problem is not None:
            errors.append(DataError(path, f"line {line_number}: id {shorten(token)!r} {problem}"))
            continue
        sample_id = id_from_token(token)
        if sample_id in first_line:
            errors.append(
                DataError(path, f"line {line_number}: id {sample_id!r} listed twice (first on line {first_line[sample_id]})")
            )
            continue
        first_line[sample_id] = line_number
        ids.append(sample_id)
    return ids, errors


# ---------------------------------------------------------------------------------------
# Datasets stored as an image folder and a label folder of same-stem files


@dataclass(frozen=True)
class SplitLayout:
    """Where one split's files are.

    ids come from ``id_list`` when there is one, else from the label files when
    ``ids_from_labels`` (datasets whose unlabelled photos share the image folder), else
    from the image files.
    """

    split: str | None
    image_dir: Path
    label_dir: Path | None = None
    id_list: Path | None = None
    label_suffix: str = ".png"
    ids_from_labels: bool = False
    labels_required: bool = True
    pose_csv: Path | None = None


@dataclass(frozen=True)
class Entry:
    """One sample of a folder-layout dataset: its id and the files found for it."""

    layout: int
    id: str
    image: Path | None
    label: Path | None


class FolderLayoutReader(Reader):
    """A parsing dataset kept as image files and same-stem label files."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        schema: str | LabelSchema | None = None,
        *,
        strict: bool = True,
        labels_required: bool | None = None,
        id_list: str | Path | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        """``labels_required`` overrides the layout's rule (False: images without a label
        load with ``label=None``); ``id_list`` replaces the split's own list of ids."""
        super().__init__(root, split, strict=strict, max_pixels=max_pixels)
        self.schema = self.resolve_schema(schema, self.root)
        splits = [split] if split is not None else self.find_splits(self.root)
        if not splits:
            raise DataError(self.root, f"no {self.format_name} dataset found here; expected {self.layout_hint}")
        if id_list is not None and len(splits) != 1:
            raise ValueError("an explicit id_list needs a single split")
        self.layouts: list[SplitLayout] = []
        self._entries: list[Entry] = []
        for split_name in splits:
            layout = self.layout(self.root, split_name)
            if id_list is not None:
                id_path = Path(id_list)
                if not id_path.is_file():
                    raise DataError(id_path, "id list does not exist")
                layout = replace(layout, id_list=id_path)
            if labels_required is not None:
                layout = replace(layout, labels_required=labels_required)
            if layout.labels_required and layout.label_dir is None:
                raise DataError(
                    self.root,
                    f"{self.format_name} split {split_name or '(all)'}: no label folder found; expected {self.layout_hint}",
                )
            self.layouts.append(layout)
            self._index_layout(len(self.layouts) - 1, layout)

    @classmethod
    @abstractmethod
    def layout(cls, root: Path, split: str | None) -> SplitLayout:
        """Where ``split``'s files are under ``root``; a DataError when they are not there."""

    def _index_layout(self, layout_index: int, layout: SplitLayout) -> None:
        images, errors = index_files(layout.image_dir, IMAGE_EXTENSIONS)
        labels: dict[str, Path] = {}
        if layout.label_dir is not None:
            labels, label_errors = index_files(layout.label_dir, (layout.label_suffix,))
            errors += label_errors
        if layout.id_list is not None:
            ids, list_errors = read_id_list(layout.id_list)
            errors += list_errors
        elif layout.ids_from_labels:
            ids = sorted(labels)
        else:
            ids = sorted(images)
        if not layout.ids_from_labels:
            for stem in sorted(set(labels) - set(images)):
                errors.append(DataError(labels[stem], f"label file has no image (no {stem}.* in {layout.image_dir})"))
        for error in errors:
            self._problem(error)
        for sample_id in ids:
            self._entries.append(Entry(layout_index, sample_id, images.get(sample_id), labels.get(sample_id)))
        self._index_extras(layout_index, layout, images)

    def _index_extras(self, layout_index: int, layout: SplitLayout, images: dict[str, Path]) -> None:
        """Hook for per-split annotations beyond the label maps (LIP's pose CSV)."""

    def _keypoints(self, entry: Entry) -> np.ndarray | None:
        """Hook: (P, K, 3) keypoints of a sample, or None."""
        return None

    def keypoints_of(self, index: int) -> np.ndarray | None:
        """Sample ``index``'s (P, K, 3) keypoints without reading its image or label (None: no keypoints)."""
        return self._keypoints(self._entries[index])

    def _read_label(self, path: Path) -> np.ndarray:
        assert self.schema is not None
        return read_label(
            path, num_classes=self.schema.num_classes, palette=self.schema.palette, max_pixels=self.max_pixels
        )

    def __len__(self) -> int:
        return len(self._entries)

    def sample_id(self, index: int) -> str:
        return self._entries[index].id

    def split_of(self, index: int) -> str | None:
        return self.layouts[self._entries[index].layout].split

    def inspect(self, index: int) -> Inspection:
        entry = self._entries[index]
        layout = self.layouts[entry.layout]
        assert self.schema is not None
        meta: dict[str, Any] = {
            "id": entry.id,
            "image_path": str(entry.image) if entry.image else None,
            "label_path": str(entry.label) if entry.label else None,
            "split": layout.split,
            "schema": self.schema.name,
            "format": self.format_name,
        }
        result = Inspection(entry.id, meta)
        if entry.image is None:
            if layout.id_list is not None:
                why = f"id listed in {layout.id_list.name}"
            else:
                why = f"its label is {entry.label.name}" if entry.label else "id given"
            result.errors.append(DataError(layout.image_dir / entry.id, f"no image file with this stem ({why})"))
        else:
            try:
                result.image = read_image(entry.image, self.max_pixels)
            except DataError as e:
                result.errors.append(e)
        if entry.label is None:
            # An id with neither image nor label is one problem (the missing image), not two.
            if layout.labels_required and layout.label_dir is not None and entry.image is not None:
                expected = layout.label_dir / f"{entry.id}{layout.label_suffix}"
                result.errors.append(DataError(expected, f"label file does not exist (image {entry.image.name} needs one)"))
        else:
            try:
                result.label = self._read_label(entry.label)
            except DataError as e:
                result.errors.append(e)
        if result.image is not None and result.label is not None and result.label.shape != result.image.shape[:2]:
            assert entry.label is not None and entry.image is not None
            (lh, lw), (ih, iw) = result.label.shape, result.image.shape[:2]
            result.errors.append(
                DataError(entry.label, f"label is {lh}x{lw} (HxW) but its image {entry.image.name} is {ih}x{iw}")
            )
        result.keypoints = self._keypoints(entry)
        return result


def flat_layout(
    root: Path,
    split: str | None,
    image_dir: Path,
    label_dir: Path | None,
    list_dirs: Sequence[Path],
    **options: Any,
) -> SplitLayout:
    """One image folder and one label folder shared by all splits, each split an id list
    (no split: every image)."""
    id_list = None
    if split is not None:
        id_list = find_id_list(list_dirs, split)
        if id_list is None:
            looked = ", ".join(str(d) for d in list_dirs)
            raise DataError(root, f"no id list for split {split!r} ({' or '.join(id_list_candidates(split))} in {looked})")
    return SplitLayout(split, image_dir, label_dir, id_list, **options)


# --------------------------------------------------------------------------- MATLAB files

# MAT v5 data types of a top-level element: an array, or a zlib-compressed array.
_MI_MATRIX, _MI_COMPRESSED = 14, 15


def mat_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Each array's name and dimensions in a MAT (v5) file, read from the arrays' headers alone
    (the first bytes of a compressed one), so a small file that declares a huge array costs
    nothing; what cannot be read is left out (:func:`load_mat` then says what is wrong)."""
    shapes: dict[str, tuple[int, ...]] = {}
    with open(path, "rb") as f:
        header = f.read(128)
        if len(header) < 128 or header[126:128] not in (b"IM", b"MI"):
            return shapes
        order = "<" if header[126:128] == b"IM" else ">"

        def element(data: bytes, at: int) -> tuple[bytes, int]:
            """A subelement's bytes and where the next one starts (the small format packs up to 4)."""
            (first,) = struct.unpack_from(order + "I", data, at)
            if first >> 16:
                return data[at + 4 : at + 4 + (first >> 16)], at + 8
            (size,) = struct.unpack_from(order + "I", data, at + 4)
            return data[at + 8 : at + 8 + size], at + 8 + (size + 7) // 8 * 8

        try:
            while len(tag := f.read(8)) == 8:
                kind, size = struct.unpack(order + "II", tag)
                start = f.tell()
                body = f.read(min(size, 512))
                f.seek(start + size)
                if kind == _MI_COMPRESSED:  # an miMATRIX inside: its tag, then the array's header
                    body = zlib.decompressobj().decompress(body, 512)[8:]
                elif kind != _MI_MATRIX:
                    continue
                _, at = element(body, 0)  # array flags
                dims, at = element(body, at)
                name, _ = element(body, at)
                shapes[name.decode("latin-1")] = struct.unpack(f"{order}{len(dims) // 4}i", dims)
        except (struct.error, zlib.error):
            pass
    return shapes


def load_mat(path: str | Path) -> dict:
    """The variables of a .mat file; a missing or unreadable file is a DataError naming it."""
    import io

    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(path, ".mat file does not exist")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, f".mat file cannot be read: {e.strerror or e}") from None
    problem = mat5_problem(data)
    if problem is not None:
        raise DataError(path, f"unreadable .mat file: {problem}")
    try:
        return scipy.io.loadmat(io.BytesIO(data))
    except Exception as e:  # scipy raises several types for corrupt files
        raise DataError(path, f"unreadable .mat file: {e}") from None


# scipy's MATLAB 5 reader looks element types up in a C table without checking them, so a
# corrupt type code crashes the process instead of raising: the element tags are checked first.
_MI_NUMBERS_AND_TEXT = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 16, 17, 18})
# Array classes whose contents hold further arrays: cell, struct, object, function, opaque.
_MX_CONTAINERS = frozenset({1, 2, 3, 16, 17, 18})
_MAX_MAT_NESTING = 32
_MAX_DECOMPRESSED = 1 << 28


def mat5_problem(data: bytes) -> str | None:
    """What makes a MATLAB 5 file's element structure unreadable (an unknown element type, an
    element running past its container, a compressed variable over 256 MiB), or None; files
    of other versions are left to scipy's own checks (:func:`mat_shapes` reads only the arrays'
    headers, for the pixel limit before anything is inflated)."""
    endian = {b"IM": "<", b"MI": ">"}.get(data[126:128]) if len(data) >= 128 else None
    if endian is None or struct.unpack(endian + "H", data[124:126])[0] != 0x0100:
        return None

    def elements(buf: bytes, start: int, end: int, top: bool, arrays_allowed: bool, depth: int) -> str | None:
        if depth > _MAX_MAT_NESTING:
            return f"arrays nested deeper than {_MAX_MAT_NESTING} levels"
        pos = start
        while pos < end:
            if end - pos < 8:
                return f"element at byte {pos} is cut short"
            word, nbytes = struct.unpack_from(endian + "II", buf, pos)
            if word >> 16:  # a small element: type and size in one word, data in the next
                mdtype, nbytes, body, after = word & 0xFFFF, word >> 16, pos + 4, pos + 8
                if nbytes > 4:
                    return f"small element at byte {pos} claims {nbytes} bytes"
            else:
                mdtype, body = word, pos + 8
                after = body + nbytes + (0 if mdtype == _MI_COMPRESSED else -nbytes % 8)
                if body + nbytes > end:
                    return f"element at byte {pos} claims {nbytes} bytes, past the end of its container"
            if top and mdtype == _MI_COMPRESSED:
                inflater = zlib.decompressobj()
                try:
                    inner = inflater.decompress(buf[body : body + nbytes], _MAX_DECOMPRESSED)
                except zlib.error as e:
                    return f"compressed element at byte {pos} does not decompress: {e}"
                if inflater.unconsumed_tail:
                    return f"compressed element at byte {pos} inflates past {_MAX_DECOMPRESSED >> 20} MiB"
                problem = elements(inner, 0, len(inner), False, True, depth)
            elif mdtype == _MI_MATRIX and (top or arrays_allowed):
                problem = matrix(buf, body, body + nbytes, depth + 1)
            elif mdtype in _MI_NUMBERS_AND_TEXT and not top:
                problem = None
            else:
                problem = f"element of unknown or misplaced type {mdtype} at byte {pos}"
            if problem is not None:
                return problem
            pos = after
        return None

    def matrix(buf: bytes, start: int, end: int, depth: int) -> str | None:
        if start == end:  # an empty array
            return None
        if end - start < 16:
            return f"array at byte {start} is cut short"
        flags_type, flags_size = struct.unpack_from(endian + "II", buf, start)
        if flags_type != 6 or flags_size != 8:
            return f"array at byte {start} does not start with its flags"
        array_class = struct.unpack_from(endian + "I", buf, start + 8)[0] & 0xFF
        return elements(buf, start + 16, end, False, array_class in _MX_CONTAINERS, depth)

    return elements(data, 128, len(data), True, True, 0)


def mat_numbers(mat: dict, key: str, path: Path, *, allow_logical: bool = False) -> np.ndarray:
    """Variable ``key`` of a loaded .mat file as float64. A DataError naming the variable unless
    it is an array of real numbers (or, with ``allow_logical``, logicals) each NaN (an absent
    value) or finite and within ±MAX_MAGNITUDE."""
    arr = np.asarray(mat[key])
    kind = arr.dtype.kind
    if kind not in ("biuf" if allow_logical else "iuf"):
        found = {
            "U": "text", "S": "text", "O": "a cell array or struct", "V": "a struct", "c": "complex numbers",
            "b": "logicals",
        }
        raise DataError(path, f"{key!r} must be an array of real numbers, found {found.get(kind, str(arr.dtype))}")
    values = arr.astype(np.float64)
    bad = np.abs(values) > MAX_MAGNITUDE  # infinities too; NaN compares False
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            path, f"{key!r} holds {values[where]:g} at index {where}; expected finite numbers within ±{MAX_MAGNITUDE:g}"
        )
    return values
