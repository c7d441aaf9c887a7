"""Training and inference throughput and peak memory of each model config at its paper
resolution, on the CPU and (when present) a CUDA GPU, in float32 and bf16; and the data
loader alone, so one can see whether it keeps the GPU busy.

Prints a table and writes the figures as JSON (default benchmarks/results/throughput.json).

    python benchmarks/speed/throughput.py [--devices cpu cuda] [--configs lip/deeplab_resnet101 "NAME KEY=VALUE" ...]
                                          [--precisions fp32 bf16] [--steps N] [--batch-size B]
                                          [--compile] [--out FILE] [--smoke]

The timing is humanparse.engine.speed's: the engine's training step (uint8 images normalised
on the device, the config's losses, SGD), on CUDA set up as training sets it up (channels-last,
cuDNN benchmark, TF32 matrix products: the fp32 rows use TF32), timed after warm-up steps
(which include compilation; their seconds are reported) with one device synchronisation per
timed block, never inside a step. ``--smoke`` times one step of one small config on the CPU in
float32, and a small loader, into a temporary folder.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

from humanparse.config import load_config  # noqa: E402
from humanparse.engine.speed import measure_speed  # noqa: E402

DEFAULT_OUT = bench.RESULTS / "throughput.json"
# A PIL config's overrides that leave the plain stacked hourglass.
PLAIN_HOURGLASS = 'model.fusion=none model.num_classes=null "loss=[{type: heatmap_mse}]"'
DEFAULT_CONFIGS = [
    "lip/deeplab_resnet101", "lip/attention_to_scale_resnet101", "lip/jppnet_resnet101", "lip/ss_nan_resnet101",
    "ccp/deeplab_resnet18_cpu", "ccp/parser_efficientnet_lite0", "synth/deeplab_resnet18", "synth/jppnet_resnet18", "synth/ss_nan_resnet18",
    # PIL's cost: the hourglass with and without the learner (Table 2's question)
    "lip/pil_hourglass", f"lip/pil_hourglass {PLAIN_HOURGLASS}",
    "ccp/pil_hourglass_cpu", f"ccp/pil_hourglass_cpu {PLAIN_HOURGLASS}",
]


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # The process's peak resident set (Linux reports KiB): an upper bound for the CPU case.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loader_throughput(size: tuple[int, int], workers: int, batch_size: int, batches: int) -> float:
    """Images/s of the training data loader alone (synthetic humans in LIP's layout, full augmentation)."""
    from humanparse.data.synth import write_synthetic_dataset
    from humanparse.engine.data import HumanDataModule

    with tempfile.TemporaryDirectory() as tmp:
        n = batch_size * (batches + 2)
        write_synthetic_dataset(Path(tmp), n, seed=0, size=(size[0] * 5 // 4, size[1] * 5 // 4), val_fraction=0.01)
        config = load_config(None, [f"data.root={tmp}", f"data.input_size=[{size[0]}, {size[1]}]",
                                    f"data.batch_size={batch_size}", f"data.num_workers={workers}"])
        dm = HumanDataModule(config["data"])
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
    """One table row: training and inference images/s and peak memory of one config (its name,
    then any overrides, shell-quoted)."""
    config_name, *overrides = shlex.split(name)
    config = load_config(bench.CONFIGS / f"{config_name}.yaml", overrides)
    device = torch.device(device_name)
    on_gpu = device.type == "cuda"
    batch_size = batch_size or (config["data"]["batch_size"] if on_gpu else 2)
    speed = measure_speed(
        config, device, batch_size, steps=steps or (20 if on_gpu else 2), warmup=3 if on_gpu else 1, bf16=bf16,
        compile_model=compiled,
    )
    return {
        "config": name, "device": device_name, "precision": label, "input_size": list(config["data"]["input_size"]),
        "batch_size": batch_size, **speed,
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
    parser.add_argument(
        "--compile", action="store_true",
        help="also time each precision with torch.compile (first steps compile: warm-up is untimed)",
    )
    parser.add_argument(
        "--loader-workers", type=int, nargs="*", default=[0, 2], help="data-loader worker counts to time"
    )
    parser.add_argument("--loader-size", type=int, default=384, help="square input side of the data-loader timing")
    parser.add_argument("--loader-batches", type=int, default=6, help="batches of 8 timed per worker count")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={
        "devices": ["cpu"], "configs": ["synth/deeplab_resnet18"], "precisions": ["fp32"], "steps": 1, "batch_size": 1,
        "loader_workers": [0], "loader_size": 64, "loader_batches": 1,
    })

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
        size = (args.loader_size, args.loader_size)
        ips = loader_throughput(size, workers, batch_size=8, batches=args.loader_batches)
        loader_rows.append({"input_size": list(size), "workers": workers, "images_per_s": ips})
        print(f"data loader alone, {size[0]}x{size[1]}, {workers} workers: {ips:.1f} img/s", flush=True)
    result = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__,
                    "cpu_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "models": rows,
        "loader": loader_rows,
    }
    bench.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
