"""Writing synthetic humans to disk in LIP's common layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...schemas.lip import LIP
from ...io import atomic_folder
from ..image_io import DataError, write_label_png
from ..readers.lip import write_lip_pose_csv
from .generator import SyntheticHumans, check_clutter, check_seed, check_size

JPEG_QUALITY = 95


def split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    """(train, val) counts: val is the rounded share, at least one when the share is positive
    and there are two or more images, and never all of them."""
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, n - 1)
    return n - n_val, n_val


def write_synthetic_dataset(
    out: Path,
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    val_fraction: float = 0.2,
    clutter: float = 1.0,
) -> None:
    """Write ``n`` synthetic people to ``out`` in LIP's layout.

    ``{train,val}_images/<id>.jpg`` (JPEG quality 95), ``{train,val}_segmentations/<id>.png``
    (palette PNGs holding LIP ids), ``{train,val}_id.txt`` and LIP pose CSVs
    ``lip_{train,val}_set.csv``. Ids are ``synth_000000`` onwards; the last images form
    the val split. The dataset is built in a temporary folder beside ``out`` and moved
    into place only when complete.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of images, got {n!r}")
    seed = check_seed(seed)
    size = check_size(size)
    clutter = check_clutter(clutter)
    # Written so that NaN fails too.
    if not isinstance(val_fraction, (int, float)) or not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(out, "output already exists and is not an empty folder; choose a new one")

    n_train, _ = split_sizes(int(n), float(val_fraction))
    generator = SyntheticHumans(size=size, seed=seed, length=int(n), clutter=clutter)
    palette = LIP.flat_palette()
    # Not flushed file by file: a generated dataset can be generated again.
    with atomic_folder(out, durable=False) as tmp:
        for split in ("train", "val"):
            (tmp / f"{split}_images").mkdir()
            (tmp / f"{split}_segmentations").mkdir()
        ids: dict[str, list[str]] = {"train": [], "val": []}
        poses: dict[str, dict[str, np.ndarray]] = {"train": {}, "val": {}}
        for index in tqdm(range(int(n)), desc="synthetic humans", unit="img", disable=None):
            sample = generator.generate(index)
            split = "train" if index < n_train else "val"
            stem = sample.id
            # Full-resolution chroma: thin coloured stripes would smear at 4:2:0.
            Image.fromarray(sample.image).save(
                tmp / f"{split}_images" / f"{stem}.jpg", quality=JPEG_QUALITY, subsampling=0
            )
            write_label_png(tmp / f"{split}_segmentations" / f"{stem}.png", sample.label, palette)
            ids[split].append(stem)
            poses[split][f"{stem}.jpg"] = sample.keypoints[0]
        for split in ("train", "val"):
            (tmp / f"{split}_id.txt").write_text(
                "".join(f"{stem}\n" for stem in ids[split]), encoding="utf-8"
            )
            write_lip_pose_csv(tmp / f"lip_{split}_set.csv", poses[split])
