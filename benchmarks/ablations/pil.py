"""PIL's ablations on synthetic humans and on CCP, in the layout of the PIL paper's Tables 1 and 2,
and its transfer to a pose-only set (Figure 4 and Table 6 in spirit).

Table 1 rows (``--rows``), each the dataset's PIL config with one ``model.fusion``: the plain
hourglass ("HG", fusion none), "HG-Add", "HG-Multi", "HG-Concat" (parsing features merged into the
pose features), "HG-MTL" (one network, a parsing classifier on the pose features), "HG-Self" (PIL's
branch with one learned static kernel, no parsing) and "HG-PIL". Rows without parsing train on
the heatmap MSE alone; the others add 0.01 x parsing cross-entropy (Eq. 2).
Table 2 (``--depths``): the hourglass with m stacks, without and with PIL.
Cost (``--cost``): training and inference images/s of HG and HG-PIL, one run.
Transfer (``--transfer``, CCP only): the "HG-PIL" row's parsing encoder and adapter, frozen, on the
unlabelled CCP photos as a pose-only set (1005-1900 train, 1901-2098 held out), learning only
the pose hourglass, U and V; against the plain hourglass from scratch on the same photos; the
held-out PCK after every epoch is the learning curve.

Everything is scored on the validation split at one scale without flip: PCK@0.5 of the
neck-to-head-top distance per joint group, U.Body (joints 8-15) and the mean (LIP's rule),
and the mean PCK@0.2 (stricter: PCK@0.5 nears its ceiling on CCP's large, standing people).

    python benchmarks/ablations/pil.py [--datasets synth ccp] [--rows HG HG-PIL ...] [--depths 1 2]
                                       [--epochs 12] [--ccp-epochs 8] [--transfer] [--cost]
                                       [--transfer-epochs 6] [--ccp-root DIR] [--out FILE] [--smoke]

On CCP (train 0001-0700, val 0701-0800) the joints are a pose detector's (MediaPipe
BlazePose, ``ccp/keypoints/``): PCK there measures agreement with that teacher, not with
hand labels. The hourglasses are narrow (64 channels on CCP, 32 on synthetic humans) and
trained from scratch, as the paper's are (configs/*/pil_hourglass*.yaml).

Prints the tables and writes JSON (default benchmarks/results/pil_ablation.json). ``--smoke``
trains every row for one epoch of ten 64x64 people at width 8, in a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

CONFIGS = {"synth": "synth/pil_hourglass", "ccp": "ccp/pil_hourglass_cpu"}
TRANSFER_CONFIG = "ccp/pil_transfer_unlabeled_cpu"
DEFAULT_OUT = bench.RESULTS / "pil_ablation.json"
POSE_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "U.Body")
STRICT = 0.2  # the second threshold scored
POSE_ONLY = ["model.num_classes=null", "loss=[{type: heatmap_mse, sigma_cells: 1.0}]"]

# Table 1's rows -> overrides of the dataset's PIL config.
ROWS: dict[str, list[str]] = {
    "HG": ["model.fusion=none", *POSE_ONLY],
    "HG-Add": ["model.fusion=add"],
    "HG-Multi": ["model.fusion=multi"],
    "HG-Concat": ["model.fusion=concat"],
    "HG-MTL": ["model.fusion=mtl"],
    "HG-Self": ["model.fusion=self", *POSE_ONLY],
    "HG-PIL": ["model.fusion=pil"],
}


def _pose_row(config_name: str, overrides: list[str], root: Path | None) -> dict[str, Any]:
    from humanparse.config import load_config
    from humanparse.engine.evaluate import evaluate_model

    config_path = bench.CONFIGS / f"{config_name}.yaml"
    row, result = bench.train_and_evaluate(config_path, overrides, root)
    assert result.pose is not None, "a PIL row scores joints"
    pose = result.pose.summary()
    # PCK@0.5 is near its ceiling on CCP's large, standing people; the stricter threshold
    # separates close rows.
    data = bench.scoring_data(load_config(config_path, overrides), root)
    strict = evaluate_model(row["model"], data, scales=[1.0], flip=False, progress=False, pck_threshold=STRICT)
    assert strict.pose is not None
    return {**row, "pck": {c: pose.table[c] for c in POSE_COLUMNS}, "pck_mean": pose.mean,
            "pck_strict": {c: strict.pose.summary().table[c] for c in POSE_COLUMNS},
            "pck_strict_mean": strict.pose.summary().mean}


def learning_curve(run: Path) -> list[float]:
    """Validation PCK after each epoch, from the run's CSV log."""
    rows = []
    for log in sorted(run.glob("logs/csv/version_*/metrics.csv")):
        with log.open(newline="") as f:
            rows += [r for r in csv.DictReader(f) if r.get("val/pck")]
    return [round(float(r["val/pck"]), 2) for r in sorted(rows, key=lambda r: int(r["epoch"]))]


def run_dataset(dataset: str, args: argparse.Namespace, epochs: int) -> dict[str, Any]:
    root = bench.dataset_root(args, dataset)
    work = args.work / dataset

    def train(name: str, overrides: list[str]) -> dict[str, Any]:
        out = work / name.replace(" ", "_").lower()
        row = _pose_row(CONFIGS[dataset], [*bench.run_overrides(args, root, out), f"train.max_epochs={epochs}",
                                           *overrides], root)
        print(f"[{dataset}] {name}: {row}", flush=True)
        return row

    table1 = {name: train(name, ROWS[name]) for name in args.rows}
    table2 = {}
    for stacks in args.depths:
        for name in ("HG", "HG-PIL"):
            label = f"HG-{stacks}s-1u" + ("" if name == "HG" else "-PIL")
            table2[label] = train(label, [*ROWS[name], f"model.stacks={stacks}"])
    return {"table1": table1, "table2": table2}


def run_transfer(args: argparse.Namespace, learner: str) -> dict[str, Any]:
    """The frozen learner on the unlabelled CCP photos, against the plain hourglass from scratch."""
    work = args.work / "ccp_transfer"
    rows = {}
    for name, overrides in (
        ("HG (scratch)", ["model.fusion=none", "train.init_from=null", "train.init_modules=[]",
                          "train.freeze_modules=[]"]),
        ("HG-PIL (frozen learner)", [f"train.init_from={learner}"]),
    ):
        out = work / ("pil" if "PIL" in name else "hg")
        row = _pose_row(TRANSFER_CONFIG, [*bench.ccp_overrides(args, out), f"train.max_epochs={args.transfer_epochs}",
                                          "train.val_every_n_epochs=1", *overrides], None)
        rows[name] = {**row, "curve": learning_curve(out)}
        print(f"[transfer] {name}: {rows[name]}", flush=True)
    return rows


def run_cost(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """HG and HG-PIL timed in one run: each dataset's config, then the paper's network."""
    settings = [(dataset, bench.CONFIGS / f"{CONFIGS[dataset]}.yaml", 8, 5) for dataset in args.datasets]
    if not args.smoke:
        settings.append(("paper (LIP, HG-8s-1u, 256)", bench.CONFIGS / "lip" / "pil_hourglass.yaml", 2, 2))
    rows = {}
    for name, config, batch, steps in settings:
        for row in ("HG", "HG-PIL"):
            rows[f"{name}: {row}"] = {**bench.cost(config, ROWS[row], batch, 1 if args.smoke else steps),
                                      "batch_size": batch}
            print(f"[cost] {name}: {row}: {rows[f'{name}: {row}']}", flush=True)
    return rows


def cost_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["== cost (CPU, images/s)", f"{'':<40} {'train':>8} {'infer':>8} {'batch':>6}"]
    for name, r in rows.items():
        lines.append(f"{name:<40} {r['train_images_per_s']:8.2f} {r['infer_images_per_s']:8.2f} {r['batch_size']:>6}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f}"


def format_table(title: str, rows: dict[str, dict[str, Any]]) -> str:
    lines = [title, f"{'Method':<24} " + " ".join(f"{c:>8}" for c in POSE_COLUMNS)
             + f" {'PCK':>6} {f'@{STRICT:g}':>6} {'train s':>8}"]
    for name, row in rows.items():
        lines.append(f"{name:<24} " + " ".join(f"{_fmt(row['pck'][c]):>8}" for c in POSE_COLUMNS)
                     + f" {_fmt(row['pck_mean']):>6} {_fmt(row['pck_strict_mean']):>6} {row['train_seconds']:>8.0f}")
        if "curve" in row:
            lines.append(f"{'':<24} PCK by epoch: {', '.join(f'{v:.1f}' for v in row['curve'])}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/pil_ablation", images=600)
    parser.add_argument("--datasets", nargs="+", choices=tuple(CONFIGS), default=["synth"])
    parser.add_argument("--rows", nargs="*", choices=tuple(ROWS), default=list(ROWS),
                        help="Table 1's rows to train (none: only --cost)")
    parser.add_argument("--depths", nargs="*", type=int, default=[], help="Table 2: stack counts, each without and with PIL")
    parser.add_argument("--epochs", type=int, default=12, help="synthetic humans: epochs of every row")
    parser.add_argument("--ccp-epochs", type=int, default=8)
    parser.add_argument("--transfer", action="store_true", help="CCP: the frozen learner on the unlabelled photos")
    parser.add_argument("--transfer-epochs", type=int, default=6)
    parser.add_argument("--cost", action="store_true",
                        help="training and inference images/s of HG and HG-PIL: each dataset's config (batch 8) "
                        "and the paper's HG-8s-1u at 256x256 (configs/lip/pil_hourglass.yaml, batch 2)")
    bench.add_ccp_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"epochs": 1, "ccp_epochs": 1, "transfer_epochs": 1, "depths": [1],
                                                      "cost": True})
    if args.transfer and ("ccp" not in args.datasets or "HG-PIL" not in args.rows):
        parser.error("--transfer starts from the CCP HG-PIL row: give --datasets ccp and keep HG-PIL in --rows")

    epochs = {"synth": args.epochs, "ccp": args.ccp_epochs}
    results: dict[str, Any] = {}
    tables = []
    for dataset in args.datasets:
        results[dataset] = run_dataset(dataset, args, epochs[dataset])
        title = "synthetic humans" if dataset == "synth" else "CCP (joints: a pose detector's, not hand labels)"
        if results[dataset]["table1"]:
            tables.append(format_table(f"== {title}: Table 1 layout, PCK@0.5", results[dataset]["table1"]))
        if results[dataset]["table2"]:
            tables.append(format_table(f"== {title}: Table 2 layout (depth)", results[dataset]["table2"]))
    if args.cost:
        results["cost"] = run_cost(args)
        tables.append(cost_table(results["cost"]))
    if args.transfer:
        results["transfer"] = run_transfer(args, results["ccp"]["table1"]["HG-PIL"]["model"])
        tables.append(format_table("== transfer to unlabelled CCP photos (held out 1901-2098; teacher joints)",
                                   results["transfer"]))
    print("\n" + "\n\n".join(tables))
    bench.write_results(
        args,
        "validation split, one scale, no flip; PCK@0.5 x |upper neck - head top|, mean over joints but pelvis "
        "and thorax, U.Body = joints 8-15 (CCP: against a pose detector's joints)",
        **results,
    )


if __name__ == "__main__":
    main()
