"""SS-NAN's neural aggregation against pooling over the same scales, and without the joint loss.

On CCP (real photos: train 0001-0700, val 0701-0800; by default
configs/ccp/ss_nan_efficientnet_lite0_cpu.yaml, EfficientNet-Lite0 from its ImageNet weights;
``--ccp-config ccp/ss_nan_resnet18_cpu`` trains a half-width ResNet-18 from scratch) and on
synthetic humans (configs/synth/ss_nan_resnet18.yaml, the half-width ResNet-18 from scratch),
every row trains the same network with the 3x3 dense classifier for the same epochs, all
outputs supervised:

    single scale       the network on the input alone (scale 1.0): the cost reference
    average pooling    scales 0.5, 0.75, 1.0, their score maps averaged
    max pooling        the same scales, element-wise maximum
    SS-NAN w/o joint   neural aggregation, cross-entropy only
    SS-NAN             neural aggregation; the joint loss (Eq. 4, on every output) for the
                       last --joint-epochs epochs

The rows other than "SS-NAN w/o joint" train with the joint loss in the same last epochs, so
each comparison changes one thing. Scores: the validation split at one scale without flip (the
network is multi-scale itself): mIoU, pixel accuracy and mean accuracy. Cost: training and
inference images/s of each network at the dataset's input size (the engine's step: forward,
loss, backward, SGD; batch --cost-batch), measured one after the other in this process after a
warm-up step.

    python benchmarks/ablations/ssnan.py [--datasets synth ccp] [--epochs 8] [--joint-epochs 3]
                                         [--images 800] [--size 96] [--ccp-epochs 6]
                                         [--ccp-joint-epochs 2] [--ccp-config NAME] [--ccp-root DIR]
                                         [--rows ROW ...] [--out FILE] [--smoke]

``--rows`` trains only the rows named (the speed column is then relative to the first of them
when "single scale" is not among them). Prints one table per dataset and writes JSON (default benchmarks/results/ssnan_aggregation.json).
``--smoke``: synthetic humans only, ten 64x64 people at width 8, two one-step epochs (the joint
loss in the second) and one timed step per row, in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

SYNTH_CONFIG = bench.CONFIGS / "synth" / "ss_nan_resnet18.yaml"
CCP_CONFIG = "ccp/ss_nan_efficientnet_lite0_cpu"
DEFAULT_OUT = bench.RESULTS / "ssnan_aggregation.json"
SCALES = "[0.5, 0.75, 1.0]"
# name -> the overrides that make the row from the SS-NAN config.
ROWS: dict[str, list[str]] = {
    "single scale": ["model.scales=[1.0]", "model.aggregation=average", "model.deep_supervision=false"],
    "average pooling": [f"model.scales={SCALES}", "model.aggregation=average"],
    "max pooling": [f"model.scales={SCALES}", "model.aggregation=max"],
    "SS-NAN w/o joint loss": [f"model.scales={SCALES}", "model.aggregation=neural", "loss=[{type: cross_entropy}]"],
    "SS-NAN": [f"model.scales={SCALES}", "model.aggregation=neural"],
}


def run_dataset(
    name: str, config_path: Path, common: list[str], root: Path | None, epochs: int, joint_epochs: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    schedule = [
        f"train.max_epochs={epochs}", f"train.val_every_n_epochs={epochs}", "train.max_time=null",
        f"loss=[{{type: cross_entropy, stop_epoch: {epochs - joint_epochs}}},"
        f" {{type: structure_sensitive, start_epoch: {epochs - joint_epochs}, per_output: true, form: coordinates}}]",
    ]
    rows: dict[str, Any] = {}
    chosen = {row: ROWS[row] for row in args.rows}
    for row, overrides in chosen.items():
        out = args.work / name / row.replace(" ", "_").replace("/", "")
        facts, result = bench.train_and_evaluate(
            config_path, [*common, f"train.out_dir={out}", *schedule, *overrides], root
        )
        rows[row] = {**bench.parsing_scores(result), **facts}
        print(f"[{name}] {row}: mIoU {rows[row]['miou']:.2f} ({facts['train_seconds']:.0f} s)", flush=True)
    for row, overrides in chosen.items():
        rows[row].update(bench.cost(config_path, [*common, *overrides], args.cost_batch, args.cost_steps))
    return rows


def table(name: str, rows: dict[str, Any]) -> str:
    single = rows.get("single scale", next(iter(rows.values())))
    lines = [
        f"{name:<22} {'mIoU':>6} {'PixAcc':>7} {'MeanAcc':>8} {'train img/s':>12} {'infer img/s':>12} {'train s':>8}"
    ]
    for row, r in rows.items():
        train = f"{r['train_images_per_s']:.1f} ({r['train_images_per_s'] / single['train_images_per_s']:.2f}x)"
        infer = f"{r['infer_images_per_s']:.1f} ({r['infer_images_per_s'] / single['infer_images_per_s']:.2f}x)"
        lines.append(
            f"{row:<22} {r['miou']:6.2f} {r['pixel_accuracy']:7.2f} {r['mean_accuracy']:8.2f} "
            f"{train:>12} {infer:>12} {r['train_seconds']:8.0f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/ssnan_aggregation", images=800)
    parser.add_argument("--datasets", nargs="+", choices=("synth", "ccp"), default=["synth", "ccp"])
    parser.add_argument("--epochs", type=int, default=8, help="synthetic humans: epochs of every row")
    parser.add_argument(
        "--joint-epochs", type=int, default=3, help="synthetic humans: last epochs with the joint loss"
    )
    parser.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS), help="the rows to train")
    parser.add_argument("--ccp-epochs", type=int, default=6)
    parser.add_argument("--ccp-joint-epochs", type=int, default=2)
    bench.add_ccp_arguments(parser)
    parser.add_argument("--ccp-config", default=CCP_CONFIG, help="the CCP rows' config, under configs/")
    parser.add_argument("--cost-batch", type=int, default=8, help="batch of the speed measurements")
    parser.add_argument("--cost-steps", type=int, default=5, help="timed steps of the speed measurements")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={
        "datasets": ["synth"], "epochs": 2, "joint_epochs": 1, "cost_batch": 1, "cost_steps": 1,
    })
    for epochs, joint in ((args.epochs, args.joint_epochs), (args.ccp_epochs, args.ccp_joint_epochs)):
        if not 0 <= joint < epochs:
            parser.error("the joint-loss epochs must be fewer than the epochs (the first phase needs one)")

    results: dict[str, Any] = {}
    tables = []
    if "synth" in args.datasets:
        root = bench.synthetic_dataset(args)
        common = [o for o in bench.common_overrides(args, root, args.work) if not o.startswith("train.out_dir=")]
        results["synth"] = run_dataset("synth", SYNTH_CONFIG, common, root, args.epochs, args.joint_epochs, args)
        tables.append(table("synthetic humans", results["synth"]))
        print(tables[-1], flush=True)
    if "ccp" in args.datasets:
        common = bench.ccp_overrides(args)
        results["ccp"] = run_dataset("ccp", bench.CONFIGS / f"{args.ccp_config}.yaml", common, None, args.ccp_epochs, args.ccp_joint_epochs, args)
        tables.append(table("CCP", results["ccp"]))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))
    bench.write_results(
        args,
        "validation split, one scale, no flip; one confusion matrix, mIoU over classes present; "
        "speed: images/s at the config's input size, batch --cost-batch, CPU, float32",
        rows=results,
    )


if __name__ == "__main__":
    main()
