"""Training and inference images/s of one config over input sizes and heads, on the CPU: the
measurement behind a CPU model's input size (the bundled parser's among them).

Prints a table and writes JSON (default benchmarks/results/input_sizes.json).

    python benchmarks/speed/input_sizes.py [--config ccp/parser_efficientnet_lite0]
        [--heads aspp_v3 aspp_v3_plus] [--sizes 256x176 320x224 384x256] [--batch-size 8] [--steps 2]

Timing is humanparse.engine.speed's (the engine's training step; the forward pass in
evaluation mode), each row in this process, one after the other: compare rows of one run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

from humanparse.config import load_config  # noqa: E402
from humanparse.engine.speed import measure_speed  # noqa: E402


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is HxW (e.g. 320x224), not {text!r}") from None
    return h, w


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="ccp/parser_efficientnet_lite0", help="config name under configs/")
    parser.add_argument("--heads", nargs="+", default=["aspp_v3", "aspp_v3_plus"])
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(256, 176), (320, 224), (384, 256)])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per row")
    parser.add_argument("--out", type=Path, default=bench.RESULTS / "input_sizes.json")
    args = bench.parse_arguments(parser, argv, smoke={"heads": ["aspp_v3"], "sizes": [(64, 48)], "batch_size": 1, "steps": 1})
    rows = []
    for head in args.heads:
        for h, w in args.sizes:
            config = load_config(bench.CONFIGS / f"{args.config}.yaml", [f"model.head={head}", f"data.input_size=[{h}, {w}]"])
            speed = measure_speed(config, torch.device("cpu"), args.batch_size, steps=args.steps, warmup=1)
            rows.append({"head": head, "input_size": [h, w], "batch_size": args.batch_size, **speed})
            print(f"{args.config} {head:<13} {h}x{w} b{args.batch_size}: train {speed['train_images_per_s']:6.2f} img/s"
                  f"  infer {speed['infer_images_per_s']:6.2f} img/s", flush=True)
    bench.write_json(args.out, {"config": args.config, "cpu_threads": torch.get_num_threads(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
