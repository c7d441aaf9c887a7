"""HIPN's three tables: stages and directions, noise identification, and semi-supervised parsing.

On CCP (real photos: train 0001-0700, val 0701-0800; configs/ccp/hipn_efficientnet_lite0_cpu.yaml,
EfficientNet-Lite0 from its ImageNet weights) and on synthetic humans
(configs/synth/hipn_resnet18.yaml, a half-width ResNet-18 from scratch):

  Table 1  (--tables 1)  the plain backbone (its ASPP root straight to the classifier: stages 0)
                         against HIPN with K = --stages stages, top-down only and both ways,
                         all trained on the whole training split.
  Table 3  (--tables 3)  for each labelled fraction (--fractions 8 2: 1/8 and 1/2 of train, fixed
                         seeded id lists written to --splits): HIPN on the labelled part only; then
                         pseudo-labels for the rest of train (plus, on CCP with
                         --unlabeled-photos, the unlabelled photos); retrained on both with
                         noise-blind pseudo-labels (+ PL: cross-entropy everywhere) and with
                         hybrid learning (+ HL: cross-entropy on the labels, noise_tolerant on the
                         pseudo-labels by certainty and consistency).
  Table 2  (--tables 2)  on the train photos treated as unlabelled (whose labels exist), for the
                         first fraction: clean/noisy identification accuracy of the max-probability
                         threshold (NLNL), certainty, and certainty + consistency, and the mIoU of
                         retraining with each (certainty + consistency is Table 3's + HL row).

Every row is scored on the validation split at one scale without flip (mIoU, pixel and mean
accuracy). The labelled-only model of Table 3 is the primary model of Table 2.

    python benchmarks/ablations/hipn.py [--datasets synth ccp] [--tables 1 2 3] [--epochs 12]
                                        [--ccp-epochs 8] [--retrain-epochs N] [--fractions 8 2]
                                        [--stages 1 2 3] [--unlabeled-photos] [--splits DIR]
                                        [--out FILE] [--smoke]

``--smoke``: synthetic humans only, ten 64x64 people at width 8, one epoch per row, K = 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

CONFIGS = {"synth": "synth/hipn_resnet18", "ccp": "ccp/hipn_efficientnet_lite0_cpu"}
DEFAULT_OUT = bench.RESULTS / "hipn.json"
SPLITS = bench.CONFIGS / "ccp" / "splits"
NOISE_RULES = {"max probability (NLNL)": "max_probability", "certainty": "certainty",
               "certainty + consistency": "certainty_consistency"}
HYBRID_LOSS = ("loss=[{type: cross_entropy, source: labelled}, {type: hierarchy_attention, source: labelled},"
               " {type: noise_tolerant, source: pseudo, alpha: 0.5}]")
BLIND_LOSS = "loss=[{type: cross_entropy}, {type: hierarchy_attention, source: labelled}]"
EXTRA = (("train s", "train_seconds"),)


class Dataset:
    """One dataset's config, its training ids and where each id's image lies."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        from humanparse.config import load_config
        from humanparse.engine.data import open_split

        self.name, self.config = name, bench.CONFIGS / f"{CONFIGS[name]}.yaml"
        self.root = bench.synthetic_dataset(args) if name == "synth" else None
        self.work = args.work / name
        self.args = args
        config = load_config(self.config, self.overrides(self.work / "probe"))
        reader, indices = open_split(config["data"], "train_split", "train_ids")
        self.reader = reader
        self.train_ids = [reader.sample_id(i) for i in indices]
        self.image_of = {reader.sample_id(i): Path(reader.inspect(i).meta["image_path"]) for i in indices}
        self.epochs = args.epochs if name == "synth" else args.ccp_epochs

    def overrides(self, out: Path) -> list[str]:
        base = (bench.run_overrides(self.args, self.root, out))
        return [*base, "model.channels=8", "model.stages=1"] if self.args.smoke else base

    def train(self, name: str, *extra: str, epochs: int | None = None) -> dict[str, Any]:
        out = self.work / name.replace(" ", "_").replace("/", "_").replace("+", "plus")
        facts, result = bench.train_and_evaluate(
            self.config, [*self.overrides(out), f"train.max_epochs={epochs or self.epochs}", *extra], self.root
        )
        row = {**bench.parsing_scores(result), **facts}
        print(f"[{self.name}] {name}: mIoU {row['miou']:.2f} ({facts['train_seconds']:.0f} s)", flush=True)
        return row


def split_file(dataset: Dataset, fraction: int, splits: Path) -> Path:
    """The fixed, seeded 1/fraction of the training ids (written once, then reused)."""
    from humanparse.semi import labelled_subset

    path = (splits if dataset.name == "ccp" else dataset.work) / f"hipn_labelled_1of{fraction}.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(labelled_subset(dataset.train_ids, fraction, seed=0)) + "\n")
    return path


def pseudo_label(dataset: Dataset, model: str, labelled: set[str], out: Path, photos: bool) -> Path:
    from humanparse.semi.pseudo_labels import PSEUDO_FILE, write_pseudo_labels

    if not (out / PSEUDO_FILE).is_file():
        inputs: list[Path] = [dataset.image_of[i] for i in dataset.train_ids if i not in labelled]
        if photos and dataset.name == "ccp":
            inputs.append(dataset.image_of[dataset.train_ids[0]].parents[1] / "unlabeled_images")
        write_pseudo_labels(model, inputs, out, progress=False)
    return out


def identification_accuracy(dataset: Dataset, pseudo: Path, rule: str, gamma: float = 0.5) -> float:
    """Percent of the pseudo-labelled train pixels whose clean/noisy call is right."""
    from humanparse.data.readers import open_dataset
    from humanparse.semi.noise import identification_counts

    reader = open_dataset("pseudo", pseudo, noise=rule, gamma=gamma)
    truth_index = {dataset.reader.sample_id(i): i for i in range(len(dataset.reader))}
    right = total = 0
    for i in range(len(reader)):
        sample = reader[i]
        if sample.id not in truth_index:
            continue  # an unlabelled photo: nothing to score against
        truth = dataset.reader[truth_index[sample.id]].label
        r, t = identification_counts(sample.maps["noisy"].astype(bool), sample.label, truth)
        right, total = right + r, total + t
    return 100 * right / max(total, 1)


def table1(dataset: Dataset, stages: Sequence[int]) -> dict[str, Any]:
    rows = {"backbone (stages 0)": dataset.train("backbone", "model.stages=0", "loss=[{type: cross_entropy}]")}
    for k in stages:
        rows[f"K={k} top-down"] = dataset.train(f"k{k}_top_down", f"model.stages={k}", "model.bidirectional=false")
        if k > 1:
            rows[f"K={k} both ways"] = dataset.train(f"k{k}_both", f"model.stages={k}")
    return rows


def table3(dataset: Dataset, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Path]]:
    rows: dict[str, Any] = {}
    pseudo_folders: dict[str, Path] = {}
    retrain = args.retrain_epochs
    for fraction in args.fractions:
        ids = split_file(dataset, fraction, args.splits)
        label = f"1/{fraction}"
        primary = dataset.train(f"{label} labelled only", f"data.train_ids={ids}")
        labelled = set(ids.read_text().split())
        pseudo = pseudo_label(dataset, primary["model"], labelled, dataset.work / f"pseudo_1of{fraction}",
                              args.unlabeled_photos)
        pseudo_folders[label] = pseudo
        common = [f"data.train_ids={ids}", f"data.pseudo_root={pseudo}"]
        rows[label] = {
            "labelled only": primary,
            "+ PL": dataset.train(f"{label} plus PL", *common, "data.pseudo_noise=none", BLIND_LOSS, epochs=retrain),
            "+ HL": dataset.train(f"{label} plus HL", *common, "data.pseudo_noise=certainty_consistency",
                                  HYBRID_LOSS, epochs=retrain),
        }
    return rows, pseudo_folders


def table2(dataset: Dataset, args: argparse.Namespace, pseudo: Path, label: str, hybrid: dict[str, Any]) -> dict[str, Any]:
    """``hybrid``: Table 3's "+ HL" row of this fraction, the certainty + consistency retraining."""
    ids = split_file(dataset, args.fractions[0], args.splits)
    rows = {}
    for name, rule in NOISE_RULES.items():
        row = hybrid if rule == "certainty_consistency" else dataset.train(
            f"{label} {rule}", f"data.train_ids={ids}", f"data.pseudo_root={pseudo}", f"data.pseudo_noise={rule}",
            HYBRID_LOSS, epochs=args.retrain_epochs,
        )
        rows[name] = {"identification_accuracy": identification_accuracy(dataset, pseudo, rule), **row}
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/hipn", images=600)
    bench.add_ccp_arguments(parser)
    parser.add_argument("--datasets", nargs="+", choices=tuple(CONFIGS), default=["synth"])
    parser.add_argument("--tables", nargs="+", type=int, choices=(1, 2, 3), default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=12, help="synthetic humans: epochs of every row")
    parser.add_argument("--ccp-epochs", type=int, default=8)
    parser.add_argument("--retrain-epochs", type=int, default=None, help="epochs of a retraining (default: as the row)")
    parser.add_argument("--fractions", nargs="+", type=int, default=[8, 2], help="labelled parts: 1/N of train")
    parser.add_argument("--stages", nargs="+", type=int, default=[1, 2, 3], help="Table 1's K")
    parser.add_argument("--unlabeled-photos", action="store_true", help="CCP: pseudo-label its unlabelled photos too")
    parser.add_argument("--splits", type=Path, default=SPLITS, help="where CCP's labelled id lists are written")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={
        "datasets": ["synth"], "epochs": 1, "stages": [1], "fractions": [2],
    })
    results: dict[str, Any] = {}
    tables = []
    for name in args.datasets:
        dataset = Dataset(name, args)
        results[name] = {}
        if 1 in args.tables:
            results[name]["table1"] = table1(dataset, args.stages)
            tables.append(bench.parsing_table(f"{name}: Table 1 (stages and directions)", results[name]["table1"], EXTRA))
        if 3 in args.tables or 2 in args.tables:
            rows, pseudo = table3(dataset, args)
            if 3 in args.tables:
                results[name]["table3"] = rows
                for label, fraction_rows in rows.items():
                    tables.append(bench.parsing_table(f"{name}: Table 3, labelled {label}", fraction_rows, EXTRA))
            if 2 in args.tables:
                label = f"1/{args.fractions[0]}"
                results[name]["table2"] = table2(dataset, args, pseudo[label], label, rows[label]["+ HL"])
                tables.append(bench.parsing_table(f"{name}: Table 2 (noise identification, {label})", results[name]["table2"],
                                                  (("ident.", "identification_accuracy"), *EXTRA)))
    print("\n" + "\n\n".join(tables))
    bench.write_results(
        args, "validation split, one scale, no flip; mIoU over classes present; identification accuracy: "
        "percent of pseudo-labelled train pixels (labels known) whose clean/noisy call is right", rows=results,
    )


if __name__ == "__main__":
    main()
