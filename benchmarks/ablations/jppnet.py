"""JPPNet's ablation on synthetic humans and on CCP, in the layout of the LIP paper's Tables 11 and 12.

Rows: the parsing-only network (DeepLab v2 on the same dilated ResNet, which is also JPPNet's
first phase), a pose-only network (the same ResNet stages and joint module), and JPPNet as
"Joint" (no refinement, one scale), "+MSC" (three input scales fused by max), "+S1" (one
refinement stage), "+MSC +S1" and "+MSC +S2". As in the paper, each JPPNet variant starts from
the parsing network trained for the first phase and is then trained end to end; the two
single-task baselines train for both phases' epochs. Everything is scored on the validation
split at one scale without flip (the architectures are compared, not the test-time tricks):
pixel accuracy, mean accuracy and mIoU; PCK against the neck-to-head-top distance (LIP's rule).

    python benchmarks/ablations/jppnet.py [--datasets synth ccp] [--images 600] [--size 96]
                                          [--parsing-epochs 4] [--joint-epochs 4] [--width 16]
                                          [--variants Joint "Joint +S1" ...] [--ccp-parsing-epochs 8]
                                          [--ccp-joint-epochs 8] [--ccp-root DIR] [--out FILE] [--smoke]

(synthetic humans: about 16 minutes on a 2-core CPU; figures in docs/jppnet.md)

On CCP (real photos: train 0001-0700, val 0701-0800; ``--datasets ccp``) every network is
initialised from EfficientNet-Lite0's ImageNet weights (configs/ccp/*_efficientnet_lite0_cpu.yaml)
and the joints are a pose detector's (MediaPipe BlazePose, ``ccp/keypoints/``): the PCK there
measures agreement with that teacher, not with hand labels.

Prints a table and writes JSON (default benchmarks/results/jppnet_ablation.json). ``--smoke``
trains every row for one step of ten 64x64 people at width 8, in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

# dataset -> role -> config (under configs/)
CONFIGS: dict[str, dict[str, str]] = {
    "synth": {"parsing": "synth/jppnet_parsing_resnet18", "pose": "synth/pose_net_resnet18", "joint": "synth/jppnet_resnet18"},
    "ccp": {
        "parsing": "ccp/jppnet_parsing_efficientnet_lite0_cpu", "pose": "ccp/pose_net_efficientnet_lite0_cpu",
        "joint": "ccp/jppnet_efficientnet_lite0_cpu",
    },
}
DEFAULT_OUT = bench.RESULTS / "jppnet_ablation.json"
POSE_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")

# name -> the joint network's model overrides; every JPPNet row starts from the parsing network.
VARIANTS: dict[str, list[str]] = {
    "Joint": ["model.refine_stages=0", "model.scales=[1.0]"],
    "Joint +MSC": ["model.refine_stages=0", "model.scales=[1.0, 0.75, 0.5]"],
    "Joint +S1": ["model.refine_stages=1", "model.scales=[1.0]"],
    "Joint +MSC +S1": ["model.refine_stages=1", "model.scales=[1.0, 0.75, 0.5]"],
    "Joint +MSC +S2": ["model.refine_stages=2", "model.scales=[1.0, 0.75, 0.5]"],
}


def _overrides(args: argparse.Namespace, dataset: str, root: Path | None, out: Path) -> list[str]:
    # On CCP the configs' own (EfficientNet-Lite, fixed-width) networks.
    width = [f"model.base_width={args.width}"] if dataset == "synth" else []
    return [*bench.run_overrides(args, root, out), *width]


def _train_and_score(config_name: str, overrides: list[str], root: Path | None) -> dict[str, Any]:
    row, result = bench.train_and_evaluate(bench.CONFIGS / f"{config_name}.yaml", overrides, root)
    if result.scores is not None:
        row.update(bench.parsing_scores(result))
    if result.pose is not None:
        pose = result.pose.summary()
        row.update(pck={c: pose.table[c] for c in POSE_COLUMNS}, pck_total=pose.mean)
    return row


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f}"


def format_tables(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["Parsing (Table 12 layout)", f"{'Method':<18} {'PixAcc':>7} {'MeanAcc':>7} {'mIoU':>7}"]
    for name, row in rows.items():
        if "miou" in row:
            lines.append(
                f"{name:<18} {_fmt(row['pixel_accuracy']):>7} {_fmt(row['mean_accuracy']):>7} {_fmt(row['miou']):>7}"
            )
    lines += ["", "Pose, PCK@0.5 of the neck-head length (Table 11 layout)",
              f"{'Method':<18} " + " ".join(f"{c:>8}" for c in POSE_COLUMNS) + f" {'Total':>8}"]
    for name, row in rows.items():
        if "pck" in row:
            lines.append(f"{name:<18} " + " ".join(f"{_fmt(row['pck'][c]):>8}" for c in POSE_COLUMNS)
                         + f" {_fmt(row['pck_total']):>8}")
    lines += ["", f"{'Method':<18} {'epochs':>6} {'train s':>8}"]
    lines += [f"{name:<18} {row['epochs']:>6} {row['train_seconds']:>8.0f}" for name, row in rows.items()]
    return "\n".join(lines)


def run_dataset(
    dataset: str, args: argparse.Namespace, parsing_epochs: int, joint_epochs: int, variants: Sequence[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The first phase and the table's rows on one dataset."""
    root = bench.dataset_root(args, dataset)
    configs, work = CONFIGS[dataset], args.work / dataset
    total_epochs = parsing_epochs + joint_epochs
    rows: dict[str, dict[str, Any]] = {}

    phase1 = _train_and_score(
        configs["parsing"], [*_overrides(args, dataset, root, work / "parsing_phase1"), f"train.max_epochs={parsing_epochs}"],
        root,
    )
    rows["Parsing only"] = _train_and_score(
        configs["parsing"], [*_overrides(args, dataset, root, work / "parsing_only"), f"train.max_epochs={total_epochs}"],
        root,
    )
    rows["Pose only"] = _train_and_score(
        configs["pose"], [*_overrides(args, dataset, root, work / "pose_only"), f"train.max_epochs={total_epochs}"], root,
    )
    for name in variants:
        folder = work / name.replace(" +", "_").replace(" ", "_").lower()
        rows[name] = _train_and_score(
            configs["joint"],
            [*_overrides(args, dataset, root, folder), *VARIANTS[name], f"train.max_epochs={joint_epochs}",
             f"train.init_from={phase1['model']}"],
            root,
        )
        print(f"[{dataset}] {name}: {rows[name]}", flush=True)
    return phase1, rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/jppnet_ablation", images=600)
    parser.add_argument("--datasets", nargs="+", choices=tuple(CONFIGS), default=["synth"])
    parser.add_argument("--parsing-epochs", type=int, default=4, help="synthetic humans, first phase: the parsing network")
    parser.add_argument("--joint-epochs", type=int, default=4, help="synthetic humans, second phase: each joint network")
    parser.add_argument("--width", type=int, default=16, help="synthetic humans: ResNet-18 base width")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS),
                        help="the JPPNet rows to train (default all)")
    parser.add_argument("--ccp-parsing-epochs", type=int, default=8)
    parser.add_argument("--ccp-joint-epochs", type=int, default=8)
    bench.add_ccp_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"parsing_epochs": 1, "joint_epochs": 1, "width": 8})

    epochs = {"synth": (args.parsing_epochs, args.joint_epochs), "ccp": (args.ccp_parsing_epochs, args.ccp_joint_epochs)}
    phases, results, tables = {}, {}, []
    for dataset in args.datasets:
        phases[dataset], results[dataset] = run_dataset(dataset, args, *epochs[dataset], args.variants)
        title = "synthetic humans" if dataset == "synth" else "CCP (joints: a pose detector's, not hand labels)"
        tables.append(f"== {title}\n" + format_tables(results[dataset]))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))
    bench.write_results(
        args,
        "validation split, one scale, no flip; parsing: one confusion matrix, mIoU over classes present; "
        "pose: PCK@0.5 x |upper neck - head top|, mean over joints but pelvis and thorax "
        "(CCP: against a pose detector's joints)",
        parsing_phase1=phases,
        rows=results,
    )


if __name__ == "__main__":
    main()
