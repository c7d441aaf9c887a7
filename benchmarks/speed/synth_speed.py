"""How fast the synthetic-humans generator makes images on one CPU core.

Prints a table (size, images/s, ms/image) and writes the figures as JSON (default
benchmarks/results/synth_speed.json; ``--smoke``: two 64x64 images, to a temporary folder).

    python benchmarks/speed/synth_speed.py [--sizes 128 256 512] [-n 200] [--out FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

from humanparse.data.synth import SyntheticHumans  # noqa: E402

DEFAULT_OUT = bench.RESULTS / "synth_speed.json"


def measure(size: int, n: int, seed: int, warmup: int) -> dict:
    generator = SyntheticHumans(size=(size, size), seed=seed, length=n + warmup)
    for index in range(warmup):  # first calls pay for imports and caches
        generator.generate(index)
    start = time.perf_counter()
    cpu_start = time.process_time()
    for index in range(warmup, warmup + n):
        generator.generate(index)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return {
        "size": [size, size],
        "images": n,
        "seconds": wall,
        "images_per_s": n / wall,
        "ms_per_image": 1000.0 * wall / n,
        "cpu_ms_per_image": 1000.0 * cpu / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512], help="square image sides")
    parser.add_argument("-n", type=int, default=200, help="images timed per size")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = bench.parse_arguments(parser, argv, smoke={"sizes": [64], "n": 2, "warmup": 1})

    # One core: the figure is per worker process of a data loader.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    rows = [measure(size, args.n, args.seed, args.warmup) for size in args.sizes]
    print(f"{'size':>9}  {'images/s':>9}  {'ms/image':>9}  {'cpu ms/image':>12}")
    for r in rows:
        h, w = r["size"]
        print(
            f"{h:>4}x{w:<4}  {r['images_per_s']:>9.1f}  {r['ms_per_image']:>9.2f}  {r['cpu_ms_per_image']:>12.2f}"
        )
    result = {
        "benchmark": "synthetic humans generation, one core",
        "threads": {"torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        "results": rows,
    }
    bench.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
