"""Summing metric counts over the processes of a distributed run (one place for the device rule)."""

from __future__ import annotations

from typing import Any

import numpy as np


def distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def reduce_device(hint: Any = None) -> Any:
    """Where a tensor for ``all_reduce`` must live: NCCL needs the GPU, gloo takes the CPU; a
    ``hint`` tensor already on a GPU decides."""
    import torch
    import torch.distributed as dist

    if hint is not None and hint.device.type != "cpu":
        return hint.device
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_over_ranks(counts: np.ndarray, hint: Any = None) -> np.ndarray:
    """``counts`` (any shape, integer) summed over every rank as int64; every rank must call it.
    Unchanged when torch.distributed is not initialised."""
    if not distributed():
        return np.asarray(counts, dtype=np.int64)
    import torch
    import torch.distributed as dist

    total = torch.as_tensor(np.asarray(counts, dtype=np.int64), device=reduce_device(hint))
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu().numpy().astype(np.int64)


__all__ = ["distributed", "reduce_device", "sum_over_ranks"]
