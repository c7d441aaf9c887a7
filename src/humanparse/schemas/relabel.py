"""Apply a class lookup table to a label map, as a NumPy array or a torch tensor."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._refs import IGNORE_INDEX

_UNKNOWN = -1  # lookup entry of an id that is not a class of the source schema


def lookup_table(targets: Sequence[int], num_source: int) -> np.ndarray:
    """(256,) int16: ``targets[i]`` for source class ``i``, 255 for 255, -1 for every other id."""
    if len(targets) != num_source:
        raise ValueError(f"{len(targets)} targets for {num_source} source classes")
    lut = np.full(IGNORE_INDEX + 1, _UNKNOWN, dtype=np.int16)
    lut[:num_source] = targets
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def relabel(label: Any, lut: np.ndarray, what: str) -> Any:
    """``lut[label]`` with the label's type, dtype and device kept (255 stays 255).

    Raises ValueError naming the ids that ``lut`` does not know (``what`` names the schema).
    """
    if _is_tensor(label):
        import torch

        ids = label.long()
        table = torch.as_tensor(lut, device=label.device).long()
        inside = (ids >= 0) & (ids <= IGNORE_INDEX)
        out = table[ids.clamp(0, IGNORE_INDEX)]
        bad = ~inside | (out == _UNKNOWN)
        if bool(bad.any()):
            _raise_unknown(ids[bad].unique().cpu().numpy(), what)
        return out.to(label.dtype)
    ids = np.asarray(label)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"a label map must hold integer class ids, not {ids.dtype}")
    inside = (ids >= 0) & (ids <= IGNORE_INDEX)
    out = lut[np.clip(ids, 0, IGNORE_INDEX)]
    bad = ~inside | (out == _UNKNOWN)
    if bad.any():
        _raise_unknown(np.unique(ids[bad]), what)
    return out.astype(ids.dtype)


def _raise_unknown(ids: np.ndarray, what: str) -> None:
    shown = ", ".join(str(int(i)) for i in ids[:10]) + (", ..." if ids.size > 10 else "")
    raise ValueError(f"label ids {shown} are not classes of {what} (nor {IGNORE_INDEX} = ignore)")
