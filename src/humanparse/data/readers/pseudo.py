"""Pseudo-labels as a dataset: a ``humanparse pseudo-label`` folder, with each image's noisy pixels.

The folder holds ``images/``, ``labels/`` (the pseudo-labels), ``evidence/`` (per-pixel
certainty, highest probability and level predictions) and ``pseudo.json`` (the label schema;
see :mod:`humanparse.semi.pseudo_labels`). Every sample comes with the (H, W) uint8 mask
``maps["noisy"]`` (1: noisy) by the reader's noise rule
(:data:`humanparse.semi.noise.NOISE_RULES`; the paper's is certainty or inconsistency), warped
with the image by nearest neighbour, and with ``meta["source"] = "pseudo"``, which loss terms
route by.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...schemas import LabelSchema, label_schema_from_dict
from ..image_io import DEFAULT_MAX_PIXELS, DataError
from ..sample import MapSpec
from .base import Inspection
from .folder import FolderReader

NOISY = "noisy"
PSEUDO_SOURCE = "pseudo"


class PseudoLabelReader(FolderReader):
    format_name = "pseudo"
    default_schema = None
    layout_hint = "a `humanparse pseudo-label` folder: images/, labels/, evidence/ and pseudo.json"

    def __init__(
        self, root: str | Path, split: str | None = None, schema: str | LabelSchema | None = None, *,
        noise: str = "certainty_consistency", gamma: float = 0.5, strict: bool = True,
        max_pixels: int | None = DEFAULT_MAX_PIXELS, **options,
    ) -> None:
        from ...semi.noise import NOISE_RULES

        record_path = Path(root) / "pseudo.json"
        if not record_path.is_file():
            raise DataError(root, f"not a pseudo-label folder: no pseudo.json; expected {self.layout_hint}")
        try:
            record = json.loads(record_path.read_text())
            own = label_schema_from_dict(record["schema"], record_path)
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(record_path, f"unreadable pseudo-label record: {e}") from None
        if schema is not None and (schema if isinstance(schema, str) else schema.name) != own.name:
            raise DataError(root, f"these pseudo-labels are in schema {own.name!r}, not {schema!r}")
        if noise not in NOISE_RULES:
            raise ValueError(f"noise must be one of {', '.join(NOISE_RULES)}, not {noise!r}")
        self.noise, self.gamma = noise, float(gamma)
        super().__init__(root, split, own, strict=strict, max_pixels=max_pixels, **options)

    @classmethod
    def resolve_schema(cls, schema, root):  # the schema is the record's, resolved in __init__
        return schema

    def evidence_path(self, sample_id: str) -> Path:
        return self.root / "evidence" / f"{sample_id}.npz"

    def noisy(self, sample_id: str, label: np.ndarray) -> np.ndarray:
        """(H, W) uint8: 1 where sample ``sample_id``'s pseudo-label is noisy by the reader's rule."""
        from ...semi.noise import inconsistent, noisy_mask
        from ...semi.pseudo_labels import LEVEL_PREFIX

        assert self.schema is not None
        path = self.evidence_path(sample_id)
        try:
            with np.load(path) as evidence:
                arrays = {k: evidence[k] for k in evidence.files}
        except (OSError, ValueError) as e:
            raise DataError(path, f"unreadable pseudo-label evidence: {e}") from None
        levels = [arrays.get(LEVEL_PREFIX + lv.name) for lv in self.schema.hierarchy]
        inconsistency = None
        if all(level is not None for level in levels):
            inconsistency = inconsistent(label, levels, [lv.parent_of.tolist() for lv in self.schema.hierarchy])
        mask = noisy_mask(self.noise, arrays.get("certainty"), arrays.get("max_probability"), inconsistency, self.gamma)
        if mask.shape != label.shape:
            raise DataError(path, f"evidence is {mask.shape} but its pseudo-label {label.shape}")
        return mask.astype(np.uint8)

    def inspect(self, index: int) -> Inspection:
        result = super().inspect(index)
        result.meta["source"] = PSEUDO_SOURCE
        if result.label is not None and not result.errors:
            try:
                result.maps[NOISY] = self.noisy(result.id, result.label)
                result.map_specs[NOISY] = MapSpec("mask")
            except DataError as e:
                result.errors.append(e)
        return result
