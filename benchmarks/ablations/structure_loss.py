"""SS-JPPNet's structure-sensitive loss against plain cross-entropy, on synthetic humans.

Attention-to-scale (a ResNet-18 shared over scales 1, 0.75 and 0.5) is first trained with
cross-entropy; from that model, two fine-tunings run for the same epochs, one with plain
cross-entropy and one with the self-supervised structure-sensitive loss (the paper's second
phase). Both are scored on the validation split at one scale without flip: mIoU, pixel and
mean accuracy, and the left/right confusion rate (the share of left-class pixels predicted as
the matching right class, and vice versa, pooled over the schema's pairs).

    python benchmarks/ablations/structure_loss.py [--datasets synth ccp] [--images 1500] [--size 96]
                                                  [--base-epochs 8] [--finetune-epochs 4]
                                                  [--ccp-base-epochs 8] [--ccp-finetune-epochs 4]
                                                  [--ccp-root DIR] [--out FILE] [--smoke]

On CCP (real photos: train 0001-0700, val 0701-0800; ``--datasets ccp``) the network is
EfficientNet-Lite0's from its ImageNet weights (configs/ccp/ss_jppnet_efficientnet_lite0_cpu.yaml)
and the pseudo-joints are the centres of CCP's garment groups; CCP has no left/right classes,
so its left/right confusion is undefined (nan).

(about 18 minutes on a 2-core CPU; figures in docs/jppnet.md)

Prints a table and writes JSON (default benchmarks/results/structure_loss.json). ``--smoke``
trains each row for one step of ten 64x64 people at width 8, in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

from humanparse.evaluation import left_right_confusion  # noqa: E402

CONFIGS = {
    "synth": bench.CONFIGS / "synth" / "ss_jppnet_resnet18.yaml",
    "ccp": bench.CONFIGS / "ccp" / "ss_jppnet_efficientnet_lite0_cpu.yaml",
}
DEFAULT_OUT = bench.RESULTS / "structure_loss.json"
CROSS_ENTROPY = "loss=[{type: cross_entropy}]"


def _train_and_score(config: Path, overrides: list[str], root: Path | None) -> dict[str, Any]:
    row, result = bench.train_and_evaluate(config, overrides, root)
    assert result.scores is not None and result.matrix is not None
    classes, iou = result.schema.classes, result.scores.per_class_iou
    return {
        **bench.parsing_scores(result),
        "left_right_confusion": 100 * left_right_confusion(result.matrix.matrix, result.schema),
        "per_class_iou": {c: (None if v != v else 100 * float(v)) for c, v in zip(classes, iou)},
        **row,
    }


def run_dataset(dataset: str, args: argparse.Namespace, base_epochs: int, finetune_epochs: int) -> dict[str, Any]:
    """The base network and its two fine-tunings on one dataset."""
    root = bench.dataset_root(args, dataset)

    def common(name: str) -> list[str]:
        return bench.run_overrides(args, root, args.work / dataset / name)

    config = CONFIGS[dataset]
    base = _train_and_score(config, [*common("base"), f"train.max_epochs={base_epochs}", CROSS_ENTROPY], root)
    rows = {"base (cross-entropy)": base}
    for name, enabled in (("+ cross-entropy", False), ("+ structure-sensitive", True)):
        loss = f"loss=[{{type: structure_sensitive, sigma_cells: {args.sigma}}}]" if enabled else CROSS_ENTROPY
        rows[name] = _train_and_score(
            config,
            [*common("ss" if enabled else "ce"), f"train.max_epochs={finetune_epochs}",
             f"train.init_from={base['model']}", f"train.lr={args.finetune_lr}", loss],
            root,
        )
    return rows


def table(title: str, rows: dict[str, Any]) -> str:
    lines = [f"{title:<24} {'mIoU':>6} {'PixAcc':>7} {'MeanAcc':>8} {'L/R conf':>9} {'train s':>8}"]
    for name, r in rows.items():
        lines.append(f"{name:<24} {r['miou']:6.2f} {r['pixel_accuracy']:7.2f} {r['mean_accuracy']:8.2f} "
                     f"{r['left_right_confusion']:9.2f} {r['train_seconds']:8.0f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/structure_loss", images=1500)
    parser.add_argument("--datasets", nargs="+", choices=tuple(CONFIGS), default=["synth"])
    parser.add_argument("--base-epochs", type=int, default=8, help="synthetic humans, first phase: cross-entropy")
    parser.add_argument("--finetune-epochs", type=int, default=4, help="synthetic humans, second phase, for each loss")
    parser.add_argument("--ccp-base-epochs", type=int, default=8)
    parser.add_argument("--ccp-finetune-epochs", type=int, default=4)
    parser.add_argument("--finetune-lr", type=float, default=0.001)
    parser.add_argument("--sigma", type=float, default=1.0, help="pseudo-joint Gaussian, in output cells")
    bench.add_ccp_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"base_epochs": 1, "finetune_epochs": 1})

    epochs = {"synth": (args.base_epochs, args.finetune_epochs), "ccp": (args.ccp_base_epochs, args.ccp_finetune_epochs)}
    rows, tables = {}, []
    for dataset in args.datasets:
        rows[dataset] = run_dataset(dataset, args, *epochs[dataset])
        tables.append(table("Attention-to-scale" + (" (CCP)" if dataset == "ccp" else ""), rows[dataset]))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))
    bench.write_results(
        args,
        "validation split, one scale, no flip; one confusion matrix, mIoU over classes present; "
        "left/right confusion: swapped-partner pixels / pixels of left/right classes (ground truth)",
        rows=rows,
    )


if __name__ == "__main__":
    main()
