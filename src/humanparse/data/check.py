"""``humanparse data check``: walk a dataset, summarise it, and report every problem.

The core, :func:`check_dataset`, returns a :class:`CheckReport`; :func:`run_check` prints
it and turns it into an exit code (0: no problems, 1: problems found).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import UsageError
from ..schemas import IGNORE_INDEX, JointSchema, LabelSchema
from .image_io import DEFAULT_MAX_PIXELS, DataError
from .readers import FolderLayoutReader, MPIIAnnotationReader, Reader, get_format
from .sample import MISSING

ALL_SPLITS = "(all)"


@dataclass
class SplitSummary:
    """Counts of one split. ``keypoint_rows``: people (rows of keypoints) with at least one
    annotated joint; ``min_size`` / ``max_size``: (height, width) extremes of readable images."""

    name: str
    images: int = 0
    labels: int = 0
    keypoint_rows: int = 0
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None

    def add_size(self, height: int, width: int) -> None:
        if self.min_size is None or self.max_size is None:
            self.min_size = self.max_size = (height, width)
            return
        self.min_size = (min(self.min_size[0], height), min(self.min_size[1], width))
        self.max_size = (max(self.max_size[0], height), max(self.max_size[1], width))


@dataclass
class CheckReport:
    format: str
    root: Path
    schema: LabelSchema | None = None
    joint_schema: JointSchema | None = None
    splits: list[SplitSummary] = field(default_factory=list)
    # Pixel count by label value 0..255 over the samples without a problem, and their number.
    pixel_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    counted_labels: int = 0
    problems: list[DataError] = field(default_factory=list)
    seconds: float = 0.0
    # Where the keypoints come from when they are not the dataset's own annotations.
    keypoints_origin: str | None = None
    _seen: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def images(self) -> int:
        return sum(s.images for s in self.splits)

    @property
    def labels(self) -> int:
        return sum(s.labels for s in self.splits)

    def split(self, name: str | None) -> SplitSummary:
        wanted = ALL_SPLITS if name is None else name
        for summary in self.splits:
            if summary.name == wanted:
                return summary
        raise KeyError(f"no split {wanted!r} in the report (have {[s.name for s in self.splits]})")

    def add_problem(self, error: DataError) -> None:
        # Splits that share folders reach the same file twice: report each problem once.
        if str(error) not in self._seen:
            self._seen.add(str(error))
            self.problems.append(error)

    def render(self) -> str:
        lines: list[str] = []
        schema = self.schema.name if self.schema else self.joint_schema.name if self.joint_schema else "-"
        lines.append(f"Dataset {self.root} (format {self.format}, schema {schema})")
        if self.keypoints_origin is not None:
            joints = f"{self.joint_schema.name} joint schema" if self.joint_schema else "joints"
            lines.append(f"Keypoints ({joints}) from {self.keypoints_origin}")
        lines.append("")
        header = ("split", "images", "labels", "keypoint rows", "height", "width")
        rows = [header]
        for s in self.splits:
            if s.min_size is not None and s.max_size is not None:
                height, width = f"{s.min_size[0]}..{s.max_size[0]}", f"{s.min_size[1]}..{s.max_size[1]}"
            else:
                height = width = "-"
            rows.append((s.name, str(s.images), str(s.labels), str(s.keypoint_rows), height, width))
        lines += _table(rows, right=(1, 2, 3))
        total = int(self.pixel_counts.sum())
        if self.schema is not None and total:
            lines.append("")
            lines.append(f"Label pixels by class ({total:,} pixels in {self.counted_labels} sound labels):")
            rows = [("id", "class", "pixels", "share")]
            for class_id, name in enumerate(self.schema.classes):
                count = int(self.pixel_counts[class_id])
                rows.append((str(class_id), name, f"{count:,}", f"{100.0 * count / total:.2f}%"))
            ignored = int(self.pixel_counts[IGNORE_INDEX])
            if ignored:
                rows.append((str(IGNORE_INDEX), "(ignore)", f"{ignored:,}", f"{100.0 * ignored / total:.2f}%"))
            lines += ["  " + line for line in _table(rows, right=(0, 2, 3))]
        lines.append("")
        if self.problems:
            lines.append(f"Problems ({len(self.problems)}):")
            lines += [f"  {p.path}: {p.problem}" for p in self.problems]
            lines.append("")
        verdict = "no problems" if self.ok else f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)}"
        lines.append(
            f"Checked {self.images} images and {self.labels} labels in {len(self.splits)} "
            f"split{'s' * (len(self.splits) != 1)} in {self.seconds:.1f} s: {verdict}."
        )
        return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
    return out


def _keypoint_rows(keypoints: np.ndarray | None) -> int:
    if keypoints is None or keypoints.size == 0:
        return 0
    return int((keypoints[..., 2] != MISSING).any(axis=1).sum())


def check_dataset(
    fmt: str,
    root: str | Path,
    schema: str | None = None,
    split: str | None = None,
    *,
    labels_optional: bool = False,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **reader_options: Any,
) -> CheckReport:
    """Walk every sample of every split found (or only ``split``) and report what is there
    and every problem. Raises only when the dataset cannot be opened at all (no such
    folder, unknown format, no schema for the folder format).

    ``labels_optional``: an image without a label is not a problem (partly labelled sets);
    ``max_pixels``: an image or label over this many pixels is a problem, found from its
    header before it is decoded (None: no limit); ``reader_options`` go to the reader (e.g.
    ``id_list``, ``pose_csv``, ``keypoints``, ``image_dir``).
    """
    root = Path(root)
    started = time.perf_counter()
    if fmt == "mpii" and root.suffix.lower() == ".mat":
        report = _check_mpii_mat(root)
        report.seconds = time.perf_counter() - started
        return report
    reader_cls = get_format(fmt)
    if reader_options.get("keypoints") is not None and not reader_cls.takes_keypoints_file:
        raise UsageError(
            f"a keypoints file is for formats without joints of their own (ccp); the {fmt!r} format takes none"
        )
    if not root.exists():
        raise DataError(root, "dataset root does not exist")
    if labels_optional and issubclass(reader_cls, FolderLayoutReader):
        reader_options["labels_required"] = False
    report = CheckReport(format=fmt, root=root)
    resolved = reader_cls.resolve_schema(schema, root)
    if reader_cls.pose_only:
        report.joint_schema = resolved
    else:
        report.schema = resolved
    splits = [split] if split is not None else reader_cls.find_splits(root)
    if not splits:
        raise DataError(root, f"no {fmt} dataset found here; expected {reader_cls.layout_hint}")
    for split_name in splits:
        summary = SplitSummary(ALL_SPLITS if split_name is None else split_name)
        report.splits.append(summary)
        try:
            reader = reader_cls(root, split_name, schema, strict=False, max_pixels=max_pixels, **reader_options)
        except DataError as e:
            report.add_problem(e)
            continue
        for error in reader.problems:
            report.add_problem(error)
        if reader.keypoints_origin is not None:
            report.keypoints_origin, report.joint_schema = reader.keypoints_origin, reader.joint_schema
        _walk(reader, summary, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _walk(reader: Reader, summary: SplitSummary, report: CheckReport, progress: bool) -> None:
    indices = tqdm(
        range(len(reader)),
        desc=f"checking {summary.name}",
        unit="image",
        disable=None if progress else True,
        leave=False,
    )
    for index in indices:
        result = reader.inspect(index)
        summary.images += 1
        for error in result.errors:
            report.add_problem(error)
        if result.image is not None:
            summary.add_size(int(result.image.shape[0]), int(result.image.shape[1]))
        summary.keypoint_rows += _keypoint_rows(result.keypoints)
        if result.label is not None:
            summary.labels += 1
            # Only samples without problems go into the histogram: a wrong-size label, or one
            # whose image could not be read to compare sizes, may be the wrong label.
            if result.ok:
                report.pixel_counts += np.bincount(result.label.ravel(), minlength=256)
                report.counted_labels += 1


def _check_mpii_mat(path: Path) -> CheckReport:
    from ..schemas import get_joint_schema

    annotations = MPIIAnnotationReader(path)
    report = CheckReport(format="mpii", root=path, joint_schema=get_joint_schema("mpii"))
    summary = SplitSummary(ALL_SPLITS)
    report.splits.append(summary)
    keypoints = annotations.keypoints
    summary.keypoint_rows = _keypoint_rows(keypoints)
    boxes = annotations.headboxes
    sizes = np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)
    for person in np.flatnonzero(~(sizes > 0)):
        report.add_problem(DataError(path, f"person {person}: head box has zero size, so PCKh is undefined"))
    annotated = keypoints[..., 2] != MISSING
    bad = annotated & ~np.isfinite(keypoints[..., :2]).all(axis=2)
    for person, joint in zip(*np.nonzero(bad)):
        report.add_problem(DataError(path, f"person {person}, joint {joint}: annotated but not a finite position"))
    return report


def run_check(
    fmt: str,
    root: Path,
    schema: str | None = None,
    split: str | None = None,
    *,
    labels_optional: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **reader_options: Any,
) -> int:
    """Check the dataset, print the report; 0 when no problems, 1 when problems were found."""
    report = check_dataset(
        fmt, root, schema=schema, split=split, labels_optional=labels_optional, max_pixels=max_pixels,
        **reader_options,
    )
    print(report.render())
    return 0 if report.ok else 1


__all__ = ["CheckReport", "SplitSummary", "check_dataset", "run_check"]
