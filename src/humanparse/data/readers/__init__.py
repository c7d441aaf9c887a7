"""Dataset readers, one per format, all producing the same :class:`~humanparse.data.sample.Sample`.

``FORMATS`` maps a format name to its reader class; :func:`open_dataset` opens one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..image_io import DataError
from .atr import ATRReader
from .base import FolderLayoutReader, Inspection, Reader, SplitLayout
from .ccp import CCPReader, read_mat_label
from .cihp import CIHPReader
from .coco import COCOReader
from .folder import FolderReader
from .keypoint_json import KeypointJsonReader
from .lip import LIPReader
from .mpii import MPIIAnnotationReader, MPIIReader, PoseRecord
from .pascal import PascalPersonPartReader
from .pseudo import PseudoLabelReader

FORMATS: dict[str, type[Reader]] = {
    reader.format_name: reader
    for reader in (
        LIPReader, CIHPReader, ATRReader, PascalPersonPartReader, CCPReader, FolderReader, MPIIReader, COCOReader,
        PseudoLabelReader,
    )
}


def get_format(name: str) -> type[Reader]:
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(f"unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}") from None


def open_dataset(
    format: str,
    root: str | Path,
    split: str | None = None,
    schema: str | None = None,
    **options: Any,
) -> Reader:
    """A reader of ``root`` in ``format``: one split, or every split found when ``split`` is None.

    ``schema`` names the label schema (the joint schema for mpii and coco); ``options`` go to
    the reader (e.g. ``strict=False``, ``labels_required=False``, ``id_list=...``,
    ``pose_csv=...`` for lip, ``keypoints=...`` for ccp, ``image_dir=...`` for mpii and coco).
    """
    reader = get_format(format)
    if format == "mpii" and Path(root).suffix.lower() == ".mat":
        raise DataError(
            root,
            "MPII's ground-truth .mat names no images, so it cannot give Samples; read it with "
            "MPIIAnnotationReader, or give the mmpose-style json with its image folder",
        )
    return reader(root, split, schema, **options)


__all__ = [
    "ATRReader", "CCPReader", "CIHPReader", "COCOReader", "FORMATS", "FolderLayoutReader", "FolderReader",
    "Inspection", "KeypointJsonReader", "LIPReader", "MPIIAnnotationReader", "MPIIReader",
    "PascalPersonPartReader", "PoseRecord", "PseudoLabelReader", "Reader", "SplitLayout", "get_format", "open_dataset",
    "read_mat_label",
]
