"""Training and inference throughput and peak memory of each model config at its paper
resolution, on the CPU and (when present) a CUDA GPU, in float32 and bf16; and the data
loader alone, so one can see whether it keeps the GPU busy.

Prints a table and writes the figures as JSON.

    python benchmarks/throughput.py [--devices cpu cuda] [--configs lip/deeplab_resnet101 ...]
                                    [--precisions fp32 bf16] [--steps N] [--batch-size B]
                                    [--compile] [--out FILE]

The training step is the engine's (ParsingTask: uint8 images normalised on the device, the
model's loss, SGD) and on CUDA set up as training sets it up (channels-last, cuDNN benchmark,
TF32 matrix products: the fp32 rows use TF32). Timings are taken after warm-up steps (which
include compilation; their seconds are reported) with one device synchronisation per timed
block, never inside a step.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from humanparse.config import load_config
from humanparse.data.readers import get_format
from humanparse.data.sample import VISIBLE
from humanparse.engine.task import ParsingTask
from humanparse.engine.train import complete_spec
from humanparse.schemas import LIP_JOINTS, get_label_schema

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "throughput.json"
DEFAULT_CONFIGS = [
    "lip/deeplab_resnet101", "lip/attention_to_scale_resnet101", "lip/jppnet_resnet101", "lip/ss_nan_resnet101",
    "ccp/deeplab_resnet18_cpu", "synth/deeplab_resnet18", "synth/jppnet_resnet18", "synth/ss_nan_resnet18",
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # The process's peak resident set (Linux reports KiB): an upper bound for the CPU case.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_task(config: dict[str, Any], device: torch.device, compile_model: bool) -> ParsingTask:
    data = config["data"]
    schema = get_label_schema(data["schema"] or get_format(data["format"]).default_schema)
    spec = {**complete_spec(config["model"], schema, LIP_JOINTS), "pretrained": None}
    task = ParsingTask(
        spec, schema.to_dict(), tuple(config["data"]["input_size"]), config["train"], joint_schema=LIP_JOINTS.to_dict(),
        loss=config["loss"],
    )
    task.to(device)
    if device.type == "cuda":  # as training sets it up on a GPU
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        task.use_channels_last()
    if compile_model:
        task.model.compile()
    return task


def time_training(
    task: ParsingTask, batch: dict[str, torch.Tensor], steps: int, warmup: int, bf16: bool
) -> tuple[float, float]:
    """Images/s over the timed steps, and the seconds the warm-up steps took (compilation included)."""
    device = batch["image"].device
    optimizer = torch.optim.SGD(task.parameters(), lr=1e-4, momentum=0.9)
    task.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output = task(batch["image"])
        loss = task.compute_loss(output, batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _timed(step, device, steps, warmup, batch["image"].shape[0])


def _timed(step: Any, device: torch.device, steps: int, warmup: int, batch_size: int) -> tuple[float, float]:
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warmed = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - warmed), warmed - start


@torch.inference_mode()
def time_inference(task: ParsingTask, images: torch.Tensor, steps: int, warmup: int, bf16: bool) -> tuple[float, float]:
    """As time_training, for the forward pass in evaluation mode."""
    task.eval()
    device = images.device

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            task(images)

    return _timed(step, device, steps, warmup, images.shape[0])


def loader_throughput(size: tuple[int, int], workers: int, batch_size: int, batches: int) -> float:
    """Images/s of the training data loader alone (synthetic humans in LIP's layout, full augmentation)."""
    from humanparse.data.synth import write_synthetic_dataset
    from humanparse.engine.data import ParsingDataModule

    with tempfile.TemporaryDirectory() as tmp:
        n = batch_size * (batches + 2)
        write_synthetic_dataset(Path(tmp), n, seed=0, size=(size[0] * 5 // 4, size[1] * 5 // 4), val_fraction=0.01)
        config = load_config(None, [f"data.root={tmp}", f"data.input_size=[{size[0]}, {size[1]}]",
                                    f"data.batch_size={batch_size}", f"data.num_workers={workers}"])
        dm = ParsingDataModule(config["data"])
        dm.setup("fit")
        loader = dm.train_dataloader()
        it = iter(loader)
        next(it)  # workers start
        start = time.perf_counter()
        count = 0
        for _ in range(batches):
            count += next(it)["image"].shape[0]
        return count / (time.perf_counter() - start)


def measure(
    name: str, device_name: str, label: str, bf16: bool, compiled: bool, steps: int | None, batch_size: int | None
) -> dict[str, Any]:
    """One table row: training and inference images/s and peak memory of one config."""
    config = load_config(CONFIG_DIR / f"{name}.yaml")
    size = tuple(config["data"]["input_size"])
    device = torch.device(device_name)
    on_gpu = device.type == "cuda"
    steps = steps or (20 if on_gpu else 2)
    batch_size = batch_size or (config["data"]["batch_size"] if on_gpu else 2)
    task = make_task(config, device, compiled)
    images = torch.randint(0, 256, (batch_size, 3, *size), dtype=torch.uint8, device=device)
    labels = torch.randint(0, task.schema.num_classes, (batch_size, *size), device=device)
    # Random visible joints inside the image, for the models that predict joints.
    xy = torch.rand(batch_size, 1, LIP_JOINTS.num_joints, 2, device=device) * torch.tensor([size[1] - 1, size[0] - 1], device=device)
    keypoints = torch.cat([xy, torch.full_like(xy[..., :1], float(VISIBLE))], dim=-1)
    batch = {"image": images, "label": labels, "keypoints": keypoints}
    warmup = 3 if on_gpu else 1
    train_ips, train_warmup = time_training(task, batch, steps, warmup=warmup, bf16=bf16)
    infer_ips, infer_warmup = time_inference(task, images, steps, warmup=warmup, bf16=bf16)
    return {
        "config": name, "device": device_name, "precision": label, "input_size": list(size),
        "batch_size": batch_size, "train_images_per_s": train_ips, "infer_images_per_s": infer_ips,
        "warmup_s": train_warmup + infer_warmup,
        "peak_memory_mb": _peak_mb(device),
        "peak_memory_kind": "cuda max allocated" if on_gpu else "process peak RSS",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="cpu and/or cuda (skipped if absent)")
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, help="config names under configs/")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 2 on CPU, 20 on GPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 on CPU, the config's on GPU")
    parser.add_argument(
        "--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
        help="autocast precisions to time (bf16 on a CPU without bf16 instructions is very slow)",
    )
    parser.add_argument("--compile", action="store_true", help="also time each precision with torch.compile (first steps compile: warm-up is untimed)")
    parser.add_argument("--loader-workers", type=int, nargs="*", default=[0, 2], help="data-loader worker counts to time")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    devices = [d for d in args.devices if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    for name in args.configs:
        for device_name in devices:
            on_gpu = device_name == "cuda"
            variants = [(p, p == "bf16", False) for p in args.precisions]
            if args.compile:  # bf16 on a CPU is left out: without bf16 instructions it is emulated
                variants += [(f"{p}+compile", p == "bf16", True) for p in args.precisions if on_gpu or p == "fp32"]
            for label, bf16, compiled in variants:
                # Each row in a fresh process: the CPU peak (the process's peak resident set)
                # then belongs to that row alone, and no compiled graph or cache carries over.
                with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    row = pool.submit(
                        measure, name, device_name, label, bf16, compiled, args.steps, args.batch_size
                    ).result()
                rows.append(row)
                size = row["input_size"]
                print(f"{name:<36} {device_name:<5} {label:<13} {size[0]}x{size[1]} b{row['batch_size']:<3} "
                      f"train {row['train_images_per_s']:8.2f} img/s  infer {row['infer_images_per_s']:8.2f} img/s  "
                      f"peak {row['peak_memory_mb']:8.0f} MB  warm-up {row['warmup_s']:6.1f} s", flush=True)
    loader_rows = []
    for workers in args.loader_workers:
        ips = loader_throughput((384, 384), workers, batch_size=8, batches=6)
        loader_rows.append({"input_size": [384, 384], "workers": workers, "images_per_s": ips})
        print(f"data loader alone, 384x384, {workers} workers: {ips:.1f} img/s", flush=True)
    result = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__,
                    "cpu_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "models": rows,
        "loader": loader_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
