"""Small argument checks shared by the models and blocks: each raises ValueError naming the option."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an integer >= 1 (not a bool), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def one_of(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError naming ``name`` and the choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}")
    return value


def check_image_batch(x: torch.Tensor, in_channels: int = 3) -> None:
    """An error unless ``x`` is a (B, in_channels, H, W) batch."""
    # The TorchScript tracer used for ONNX export cannot record this check, nor needs it.
    if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != in_channels):
        raise ValueError(f"expected a (B, {in_channels}, H, W) image batch, got shape {tuple(x.shape)}")


__all__ = ["check_image_batch", "one_of", "positive_int"]
