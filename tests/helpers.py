"""What several test files share: the repository's folders, the tiny options of every registered
model, a toy parsing network, synthetic data, random label maps and keypoints, published figures of
the real data, small valid annotation files of each format, a training run's logged metrics, the
expected output size, a few CPU processes joined by torch.distributed and a disk that fills up
mid-write."""

from __future__ import annotations

import csv
import errno
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from humanparse.data.readers import open_dataset
from humanparse.data.sample import VISIBLE
from humanparse.data.synth import write_synthetic_dataset
from humanparse.evaluation.pose_metrics import PCKAccumulator
from humanparse.models import ModelOutput
from humanparse.schemas import LIP, LIP_JOINTS, schema_tree_spec

# The checkout's root and its shipped configs, wherever the test file that asks sits below tests/.
REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# ResNet-18 at base width 8: the backbone of every tiny test network.
TINY_BACKBONE: dict[str, Any] = {"backbone": "resnet18", "base_width": 8}

# model name -> options that make a tiny instance (a CPU forward in milliseconds). A model
# registered in humanparse.MODELS needs an entry here: tests/test_every_model.py checks it.
TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "deeplab": {**TINY_BACKBONE, "output_stride": 8},
    "attention_to_scale": {**TINY_BACKBONE, "scales": [1.0, 0.5], "attention_channels": 8},
    "ss_nan": {**TINY_BACKBONE, "scales": [0.5, 1.0], "aggregation_channels": 8},
    "jppnet": {**TINY_BACKBONE, "refine_stages": 1, "scales": [1.0, 0.75]},
    "pose_net": dict(TINY_BACKBONE),
    "jppnet_pose_branch": {**TINY_BACKBONE, "scales": [1.0, 0.75], "test_fusion": "mean"},
    "resnet_pose": dict(TINY_BACKBONE),
    # PIL on HG-2s-1u with an HG-1s-1u parsing encoder (LIP's classes: its parsing is optional).
    "pil": {"stacks": 2, "units": 1, "parsing_units": 1, "num_classes": LIP.num_classes, "base_width": 32},
    # HIPN over LIP's hierarchy (full body, halves, 19 parts), two stages, both directions.
    "hipn": {**TINY_BACKBONE, "output_stride": 8, "hierarchy": schema_tree_spec(LIP), "channels": 8, "stages": 2},
    # WSHP's U-Net over image + prior, four levels deep at width 8.
    "wshp_refiner": {"depth": 4, "base_width": 8},
}

# Config overrides shared by the tests that train: LIP-layout data read in the main process,
# one CPU device, every step logged (so that the CSV log has a row per step).
CPU_TRAINING = [
    "data.format=lip", "data.num_workers=0", "train.log_every_n_steps=1", "train.accelerator=cpu", "train.devices=1",
]


class ToyParser(nn.Module):
    """A parsing network in miniature, for the tests of the model file, predict and export
    (conftest's ``toy_model`` registers it): a strided conv with batch norm (parameters and
    buffers, as real models have), a deeper branch resized bilinearly back (the operations real
    parsing networks export) and an auxiliary output. Output stride 2; the weights are drawn
    from ``seed`` without touching the global random state."""

    def __init__(self, num_classes: int, width: int = 4, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
            self.norm = nn.BatchNorm2d(width)
            self.deeper = nn.Conv2d(width, width, 3, stride=2, padding=1)
            self.head = nn.Conv2d(2 * width, num_classes, 1)
            self.aux = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        a = torch.relu(self.norm(self.stem(x)))
        b = F.interpolate(torch.relu(self.deeper(a)), size=a.shape[-2:], mode="bilinear", align_corners=False)
        return ModelOutput(self.head(torch.cat([a, b], 1)), aux_logits=[self.aux(b)])


def tiny_spec(name: str, factory: Any) -> dict[str, Any]:
    """A complete spec of model ``name`` (classes from LIP, joints from LIP's 16) at tiny size."""
    import inspect

    parameters = inspect.signature(factory).parameters
    spec: dict[str, Any] = {"name": name, **TINY_OPTIONS[name]}
    # Required counts come from LIP; optional ones (default None) only where the options ask.
    if "num_classes" in parameters and parameters["num_classes"].default is not None:
        spec["num_classes"] = LIP.num_classes
    if "num_joints" in parameters and parameters["num_joints"].default is not None:
        spec["num_joints"] = LIP_JOINTS.num_joints
    return spec


def synthetic_humans(root: Path, count: int = 200, seed: int = 3, size: int = 64) -> Path:
    """Uncluttered synthetic people in LIP's layout (with pose CSVs): a network from scratch
    learns them in a few hundred steps."""
    write_synthetic_dataset(root, count, seed=seed, size=(size, size), val_fraction=0.25, clutter=0.0)
    return root


# Class ids as the datasets define them (see the LIP and ATR docs).
LIP_LEFT_ARM, LIP_RIGHT_ARM, LIP_PANTS = 14, 15, 9
ATR_LEFT_SHOE, ATR_RIGHT_SHOE = 9, 10

# Per-joint PCKh@0.5 of the published predictions in detections_our_format.mat, as
# ../shared/data/README.md states them ("neck" = upper neck, "head" = head top).
MPII_README_PCKH = {
    "r_ankle": 65.2, "r_knee": 73.4, "r_hip": 82.0, "l_hip": 81.9, "l_knee": 73.3, "l_ankle": 65.7,
    "upper_neck": 97.7, "head_top": 95.6, "r_wrist": 76.4, "r_elbow": 83.4, "r_shoulder": 92.2,
    "l_shoulder": 93.3, "l_elbow": 83.4, "l_wrist": 77.1,
}
MPII_README_MEAN = 82.34


def blob_label(rng: np.random.Generator, size: tuple[int, int], classes: list[int]) -> np.ndarray:
    """A label map of background plus random axis-aligned rectangles of the given classes."""
    h, w = size
    label = np.zeros(size, dtype=np.uint8)
    for c in classes:
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        label[y0 : y0 + rng.integers(8, h // 2), x0 : x0 + rng.integers(8, w // 2)] = c
    return label


def random_keypoints(rng: np.random.Generator, n: int, k: int, size: tuple[int, int], margin: float = 12.0) -> torch.Tensor:
    """(n, k, 3) visible keypoints uniform over an (H, W) image, ``margin`` pixels from its edges."""
    h, w = size
    kp = np.zeros((n, k, 3), dtype=np.float32)
    kp[..., 0] = rng.uniform(margin, w - 1 - margin, (n, k))
    kp[..., 1] = rng.uniform(margin, h - 1 - margin, (n, k))
    kp[..., 2] = VISIBLE
    return torch.from_numpy(kp)


# Small valid annotation files of each format, for the tests that break them field by field.
# Every image is 30x40 (HxW) and every joint at (10, 11) in the file's own coordinates.
ANNOTATED_SIZE = (30, 40)


def write_black_image(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(ANNOTATED_SIZE + (3,), dtype=np.uint8)).save(path)
    return path


def coco_document() -> dict[str, Any]:
    """A COCO keypoint json (as a dict) for one.jpg with one person, 17 visible joints."""
    h, w = ANNOTATED_SIZE
    return {
        "images": [{"id": 1, "file_name": "one.jpg", "height": h, "width": w}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": [10, 11, 2] * 17, "bbox": [1, 2, 3, 4]}
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"j{i}" for i in range(17)]}],
    }


def mpii_entries() -> list[dict[str, Any]]:
    """An mmpose-style MPII json (as a list) with one person in a.jpg."""
    return [{"image": "a.jpg", "joints": [[10.0, 11.0]] * 16, "joints_vis": [1] * 16, "center": [15.0, 25.0], "scale": 1.5}]


def mpii_ground_truth(people: int = 3) -> dict[str, np.ndarray]:
    """The variables of an MPII ground-truth .mat: every joint annotated, 10x10 head boxes."""
    return {
        "pos_gt_src": np.full((16, 2, people), 10.0),
        "jnt_missing": np.zeros((16, people), dtype=np.uint8),
        "headboxes_src": np.stack([np.zeros((2, people)), np.full((2, people), 10.0)]),
    }


def lip_pose_row(name: str) -> list[str]:
    """One row of a LIP pose CSV: ``name`` and 16 visible joints."""
    return [name] + ["10", "11", "0"] * 16


def write_csv_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def metrics_rows(out: Path, version: int = 0) -> list[dict[str, str]]:
    """The rows of a training run's CSV log (``version`` counts the starts of a resumed run)."""
    with open(out / "logs" / "csv" / f"version_{version}" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def logged(out: Path, key: str, version: int = 0) -> list[float]:
    """Every value the run logged under ``key``, in order."""
    return [float(row[key]) for row in metrics_rows(out, version) if row.get(key)]


def declared_png(path: Path, width: int, height: int) -> Path:
    """A PNG of a few KB whose header declares ``width`` x ``height`` RGB pixels and whose data
    stops after a few rows, as a decompression bomb's header does (its data would be zeros)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (1 + 3 * width) * 4)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def expected_size(size: tuple[int, int], stride: int = 8) -> tuple[int, int]:
    """(h, w) of a stride-``stride`` network's output for an (H, W) input: the ceiling, worked
    out here rather than by the package's own helper, which the tests check."""
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


def _process_main(rank: int, world_size: int, init_file: str, result_file: str, body: Callable[[int], Any]) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        values = body(rank)
        if rank == 0:
            np.save(result_file, np.asarray(values))
    finally:
        dist.destroy_process_group()


def run_on_processes(body: Callable[[int], Any], tmp_path: Path, world_size: int = 2) -> np.ndarray:
    """Runs ``body(rank)`` in ``world_size`` CPU processes joined by a gloo process group and
    gives back what rank 0 returned, as an array. ``body`` must be a module-level function (the
    spawned processes import it by name)."""
    import torch.multiprocessing as mp

    result = tmp_path / "rank0.npy"
    mp.spawn(_process_main, args=(world_size, str(tmp_path / "init"), str(result), body), nprocs=world_size, join=True)
    return np.load(result)


class _FillingFile:
    """A file open for writing that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, file: Any, room: int) -> None:
        self._file = file
        self._room = room

    def write(self, data: Any) -> int:
        data = bytes(data) if not isinstance(data, str) else data
        if len(data) > self._room:
            self._file.write(data[: self._room])
            self._room = 0
            self._file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._file.write(data)

    def __enter__(self) -> "_FillingFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def fill_disk_after(monkeypatch: Any, room: int, where: str = ".partial") -> None:
    """Make every file opened for writing whose name contains ``where`` (the tool's temporary
    files) take ``room`` bytes and then fail with ENOSPC, as a disk that fills up mid-write."""
    import builtins
    import io

    real_open = io.open

    def open_filling(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened = real_open(file, mode, *args, **kwargs)
        if any(m in mode for m in "wax+") and where in Path(str(file)).name:
            return _FillingFile(opened, room)
        return opened

    monkeypatch.setattr(builtins, "open", open_filling)
    monkeypatch.setattr(io, "open", open_filling)


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders the tool's writers left in ``folder`` (there should be none)."""
    return sorted(p.name for p in Path(folder).rglob("*") if ".partial" in p.name)


def mean_pose_pck(root: Path) -> float:
    """PCK of answering every image with the training set's mean joint positions: a network
    that only learnt where joints usually are would score this."""
    train = np.stack([s.keypoints[0] for s in open_dataset("lip", root, split="train")])
    mean = np.nanmean(train[..., :2], axis=0)
    accumulator = PCKAccumulator("lip")
    for sample in open_dataset("lip", root, split="val"):
        accumulator.update(mean[None], sample.keypoints[:1])
    return float(accumulator.summary().mean)
