"""What the benchmark scripts share: where things are, the ``--smoke`` switch, the JSON results
file, and for the ablations the synthetic-humans options and dataset and training then scoring
one config.

Each script puts this folder on ``sys.path`` and imports this module as ``bench``, so that it
runs from the repository root or any other working directory
(``python benchmarks/ablations/jppnet.py``).
"""

from __future__ import annotations

import argparse
import atexit
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

if TYPE_CHECKING:
    from humanparse.engine.evaluate import Evaluation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RESULTS = Path(__file__).resolve().parent / "results"  # git-ignored
# What --smoke sets in the synthetic-humans options: ten 64x64 people (eight train, one batch an epoch).
SMOKE_SYNTHETIC = {"images": 10, "size": 64}


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, smoke: dict[str, Any]
) -> argparse.Namespace:
    """Add ``--smoke`` and parse. Under ``--smoke`` the defaults become ``smoke``'s, and those of the
    synthetic-humans options ``SMOKE_SYNTHETIC``'s (flags given still win); the JSON and the working
    files (``--work``) go to a new temporary folder, whose working files are removed at exit."""
    parser.add_argument(
        "--smoke", action="store_true",
        help="tiniest sizes, one step or epoch, results in a temporary folder: checks that the script runs",
    )
    if parser.parse_known_args(argv)[0].smoke:
        scratch = Path(tempfile.mkdtemp(prefix="humanparse-smoke-"))
        defaults = {"out": scratch / parser.get_default("out").name}
        if parser.get_default("work") is not None:  # add_synthetic_arguments was called
            defaults.update(SMOKE_SYNTHETIC, work=scratch / "work")
        parser.set_defaults(**{**defaults, **smoke})
        atexit.register(_remove_scratch, scratch)
    return parser.parse_args(argv)


def _remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch / "work", ignore_errors=True)
    if scratch.is_dir() and not any(scratch.iterdir()):
        scratch.rmdir()


def write_json(path: Path, payload: dict[str, Any]) -> None:
    from humanparse.io import write_json as write_atomically

    write_atomically(path, payload, allow_nan=True)
    print(f"wrote {path}")


def add_synthetic_arguments(parser: argparse.ArgumentParser, work: str, images: int) -> None:
    parser.add_argument("--images", type=int, default=images, help="synthetic people (a fifth for validation)")
    parser.add_argument("--size", type=int, default=96, help="image and input size")
    parser.add_argument("--clutter", type=float, default=0.0, help="scene clutter of the synthetic people, 0..1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path(work), help="data and runs go here")


def synthetic_dataset(args: argparse.Namespace) -> Path:
    """The benchmark's synthetic humans (LIP layout, with pose CSVs), made once per setting."""
    from humanparse.data.synth import write_synthetic_dataset

    root = args.work / f"synth_{args.images}_{args.size}_{args.clutter:g}"
    if not (root / "val_id.txt").is_file():
        write_synthetic_dataset(root, args.images, seed=args.seed, size=(args.size, args.size), clutter=args.clutter)
    return root


def common_overrides(args: argparse.Namespace, root: Path, out: Path) -> list[str]:
    overrides = [
        f"data.root={root}", f"data.input_size=[{args.size}, {args.size}]", f"train.out_dir={out}",
        f"data.num_workers={0 if args.smoke else 1}", "train.accelerator=cpu", "train.devices=1",
        f"train.seed={args.seed}",
    ]
    return [*overrides, "model.base_width=8"] if args.smoke else overrides  # a narrow network


def add_ccp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ccp-root", type=Path, default=None, help="CCP folder (default: the configs')")


def ccp_overrides(args: argparse.Namespace, out: Path | None = None) -> list[str]:
    """Overrides of a run on CCP: the config's own data (or ``--ccp-root``), input size and
    network; one loader worker, the CPU, the seed and, given ``out``, the run folder."""
    overrides = ["data.num_workers=1", "train.accelerator=cpu", "train.devices=1", f"train.seed={args.seed}"]
    if args.ccp_root is not None:
        overrides.append(f"data.root={args.ccp_root.resolve()}")
    return [*overrides, f"train.out_dir={out}"] if out is not None else overrides


def dataset_root(args: argparse.Namespace, dataset: str) -> Path | None:
    """The synthetic humans' folder for ``dataset`` "synth"; None for "ccp" (the configs' own data)."""
    return synthetic_dataset(args) if dataset == "synth" else None


def run_overrides(args: argparse.Namespace, root: Path | None, out: Path) -> list[str]:
    """A run's overrides on the synthetic humans at ``root``, or on CCP when ``root`` is None."""
    return common_overrides(args, root, out) if root is not None else ccp_overrides(args, out)


def train_and_evaluate(
    config_path: Path, overrides: list[str], root: Path | None = None
) -> tuple[dict[str, Any], Evaluation]:
    """Train a config; score its model file on the validation split at one scale, no flip: of the
    synthetic humans at ``root``, or of the config's own data without one.
    Returns (run facts: epochs, seconds, model folder) and the evaluation."""
    # Imported here: the speed scripts use this module too, without Lightning.
    from humanparse.config import load_config
    from humanparse.engine.evaluate import evaluate_model
    from humanparse.engine.train import run_train

    config = load_config(config_path, overrides)
    start = time.perf_counter()
    summary = run_train(config, progress=False)
    seconds = time.perf_counter() - start
    result = evaluate_model(summary["model"], scoring_data(config, root), scales=[1.0], flip=False, progress=False)
    return {"epochs": summary["epochs"], "train_seconds": round(seconds, 1), "model": summary["model"]}, result


def scoring_data(config: dict[str, Any], root: Path | None) -> dict[str, Any]:
    """The data a benchmark row is scored on: the synthetic humans' validation split at ``root``,
    or the config's own validation data without one."""
    return config["data"] if root is None else {
        "format": "lip", "root": str(root), "schema": None, "val_split": "val", "val_ids": None,
    }


def parsing_scores(result: Evaluation) -> dict[str, float]:
    """Pixel accuracy, mean accuracy and mIoU of an evaluation, in percent."""
    assert result.scores is not None
    return {
        "pixel_accuracy": 100 * result.scores.pixel_accuracy,
        "mean_accuracy": 100 * result.scores.mean_accuracy,
        "miou": 100 * result.scores.miou,
    }


def cost(config_path: Path, overrides: list[str], batch_size: int, steps: int) -> dict[str, float]:
    """Training and inference images/s of a config's network at its input size, on the CPU."""
    from humanparse.config import load_config
    from humanparse.engine.speed import measure_speed

    speed = measure_speed(load_config(config_path, overrides), torch.device("cpu"), batch_size, steps)
    return {key: speed[key] for key in ("train_images_per_s", "infer_images_per_s")}


def parsing_table(title: str, rows: dict[str, dict[str, Any]], extra: Sequence[tuple[str, str]] = ()) -> str:
    """Rows of parsing scores as text: mIoU, pixel and mean accuracy, then each ``extra``
    (header, key) column a row has (blank where it has none)."""
    width = max([len(n) for n in rows] + [20]) + 2
    lines = [title, f"{'':<{width}} {'mIoU':>6} {'PixAcc':>7} {'MeanAcc':>8}" + "".join(f" {h:>8}" for h, _ in extra)]
    for name, r in rows.items():
        cells = "".join(f" {r[key]:8.2f}" if key in r else f" {'':>8}" for _, key in extra)
        lines.append(f"{name:<{width}} {r['miou']:6.2f} {r['pixel_accuracy']:7.2f} {r['mean_accuracy']:8.2f}{cells}")
    return "\n".join(lines)


def write_results(args: argparse.Namespace, protocol: str, **results: Any) -> None:
    """The settings, the machine, the scoring protocol and the results as JSON in ``args.out``."""
    write_json(args.out, {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "protocol": protocol,
        **results,
    })
