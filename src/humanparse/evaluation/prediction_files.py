"""Prediction files scored by ``humanparse score``: joints as a CSV (LIP's layout) or as an
array in a .npy or MPII evaluation .mat file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.image_io import DataError
from ..data.readers.base import load_mat, mat_numbers
from ..data.readers.lip import LIP_NUM_JOINTS, csv_image_name, csv_number, read_named_rows


def read_pose_predictions_csv(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> dict[str, np.ndarray]:
    """Predicted joints ``name, x1, y1, ..., xK, yK`` -> {name: (K, 2) float64}.

    Rows of ``name`` + 3K numbers (LIP's layout, flags included) are accepted too and their
    flags ignored; ``nan`` marks a joint that was not predicted.
    """
    return read_named_rows(
        path, "prediction CSV", lambda row, p, line: _parse_prediction_row(row, p, line, num_joints)
    )


def _parse_prediction_row(row: list[str], path: Path, line: int, num_joints: int) -> tuple[str, np.ndarray]:
    row = [c.strip() for c in row]
    name = csv_image_name(row, path, line)
    if len(row) - 1 not in (2 * num_joints, 3 * num_joints):
        raise DataError(
            path,
            f"line {line}: expected name + {2 * num_joints} numbers (x, y per joint) "
            f"or + {3 * num_joints} (x, y, flag), found {len(row) - 1}",
        )
    values = np.array([csv_number(t, path, line, i + 1) for i, t in enumerate(row[1:])], dtype=np.float64)
    joints = values.reshape(num_joints, -1)[:, :2].copy()
    joints[np.isnan(joints).any(axis=1)] = np.nan
    return name, joints


def read_pose_predictions_array(path: str | Path, num_joints: int = LIP_NUM_JOINTS) -> np.ndarray:
    """Predicted joints as an (N, K, 2) float64 array, from a ``.npy`` (N, K, 2) or a
    ``.mat`` holding ``pos_pred_src`` (K, 2, N) or ``preds`` (N, K, 2) (the reference MPII
    evaluation's two layouts; ``pos_pred_src`` wins when both are there)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if not path.is_file():
            raise DataError(path, ".npy file does not exist")
        try:
            loaded = np.load(path, allow_pickle=False)
        except Exception as e:  # numpy raises several types for bad files
            raise DataError(path, f"unreadable .npy file: {e}") from None
        key, mat = "array", {"array": loaded}
    elif suffix == ".mat":
        mat = load_mat(path)
        key = "pos_pred_src" if "pos_pred_src" in mat else "preds" if "preds" in mat else None
        if key is None:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(
                path, f"no predictions: expected 'pos_pred_src' (K, 2, N) or 'preds' (N, K, 2), found {found}"
            )
    else:
        raise DataError(path, f"predictions must be a .mat or .npy file, not {path.suffix!r}")
    arr = mat_numbers(mat, key, path)  # NaN marks a joint that was not predicted
    if key == "pos_pred_src" and arr.ndim == 3:
        arr = arr.transpose(2, 0, 1)
    if arr.ndim != 3 or arr.shape[1] != num_joints or arr.shape[2] not in (2, 3):
        raise DataError(path, f"{key} has shape {arr.shape} (as N, K, C); expected (N, {num_joints}, 2)")
    return np.ascontiguousarray(arr[:, :, :2], dtype=np.float64)
