"""Semi-supervised parsing (HIPN): pseudo-labels for unlabelled images, which of their pixels to
trust (:mod:`.noise`), and retraining on labels plus pseudo-labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def labelled_subset(ids: Sequence[str], fraction: int, seed: int = 0) -> list[str]:
    """A fixed, seeded 1/``fraction`` of ``ids`` (at least one), in their order: the labelled
    part of a semi-supervised split; the rest is treated as unlabelled."""
    if isinstance(fraction, bool) or not isinstance(fraction, int) or fraction < 1:
        raise ValueError(f"fraction must be a positive integer (1/fraction of the ids), not {fraction!r}")
    ids = list(ids)
    count = max(1, round(len(ids) / fraction))
    chosen = set(np.random.default_rng(seed).choice(len(ids), size=count, replace=False).tolist())
    return [i for k, i in enumerate(ids) if k in chosen]


__all__ = ["labelled_subset"]
