"""Small random helpers: ``Generator.choice`` with weights is slow for single draws."""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def weighted_index(rng: np.random.Generator, weights: Sequence[float] | np.ndarray) -> int:
    """An index drawn with probability proportional to ``weights``."""
    cumulative = np.cumsum(weights)
    return min(
        int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(cumulative) - 1
    )


def weighted_choice(rng: np.random.Generator, options: Sequence[T], weights: Sequence[float]) -> T:
    return options[weighted_index(rng, weights)]


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]
