"""WSHP's two tables: which prior the refinement network is given, and a parser with and without
the labels synthesised for keypoint-only people.

On CCP (real photos with a pose detector's joints, a teacher's, not hand labels: exemplars =
the labelled training photos 0001-0700; keypoint-only = the 1094 unlabelled photos; the
synthesis itself is scored on the validation photos 0701-0800 treated as keypoint-only) and on
synthetic humans (LIP's body parts; exemplars = the training split, the validation split
treated as keypoint-only):

  Table 2  (--tables 2)  the refinement network trained with each prior, then labels synthesised
                         for the validation people, scored against their true labels (mIoU,
                         pixel and mean accuracy): the skeleton map; the part prior with
                         k = 1, 3, 5, 7 nearest (no augmentation); k = 3 of n = 5 (the paper's).
                         The prior alone (its argmax, k = 3, no refiner) is a reference row;
                         --variants adds the k = 3 of n = 5 refiner trained with cross-entropy,
                         or with its output added to the prior's logits (not in the paper).
  Table 1  (--tables 1)  a parser (--parser-config) trained on 1/8 and on all of the labelled
                         training photos (the fixed seeded lists of configs/ccp/splits/), each
                         without and with the labels that the k = 3 of n = 5 refiner synthesises
                         for the keypoint-only people, scored on validation.

    python benchmarks/ablations/wshp.py [--datasets synth ccp] [--tables 1 2] [--refiner-epochs 20]
                                        [--refiner-width 64] [--refiner-depth 8] [--ccp-size 256 256]
                                        [--parser-epochs 8]
                                        [--ks 1 3 5 7] [--variants cross_entropy residual] [--fractions 8 1]
                                        [--out FILE] [--smoke]

``--smoke``: synthetic humans only, 16 people at 64x64, a three-level U-Net, one epoch per row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

CCP = Path(__file__).resolve().parents[3] / "shared" / "data" / "ccp"
DEFAULT_OUT = bench.RESULTS / "wshp.json"
PARSERS = {"synth": "synth/deeplab_resnet18", "ccp": "ccp/deeplab_efficientnet_lite0_cpu"}
REFINER = ("{name: wshp_refiner, depth: %d, base_width: %d, prior: %s}")
# Refiners beside the paper's (not in it): --variants NAME -> (row label, overrides).
VARIANTS = {
    "cross_entropy": ("cross-entropy instead of L1", ("loss=[{type: cross_entropy}]",)),
    "residual": ("L1, residual on the prior", ("model.prior_residual=true",)),
}


class Setting:
    """One dataset: where its exemplars, targets and keypoint-only people are."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name, self.args, self.work = name, args, args.work / name
        if name == "synth":
            self.root = bench.synthetic_dataset(args)
            self.data = [f"data.format=lip", f"data.root={self.root}", "data.train_split=train",
                         "data.val_split=val", "data.num_workers=0"]
            self.keypoints = self.root / "lip_val_set.csv"  # the validation people's joints
            # Keypoint-only people: other synthetic humans, whose labels are never read.
            other = argparse.Namespace(**{**vars(args), "seed": args.seed + 1, "work": args.work / "keypoint_only"})
            self.unlabelled_root = bench.synthetic_dataset(other)
            self.unlabelled: tuple[str | None, Path] = ("train", self.unlabelled_root / "lip_train_set.csv")
            self.size = [args.size, args.size]
        else:
            self.root = args.ccp_root or CCP
            keypoints = self.root / "keypoints" / "labeled_lip16.csv"
            self.data = [f"data.format=ccp", f"data.root={self.root}", f"data.keypoints={keypoints}",
                         "data.train_split=null", "data.val_split=null", "data.train_ids=0001-0700",
                         "data.val_ids=0701-0800", "data.num_workers=1"]
            self.keypoints = keypoints
            self.unlabelled = ("unlabeled", self.root / "keypoints" / "unlabeled_lip16.csv")
            self.unlabelled_root = self.root
            self.size = list(args.ccp_size)

    def config_file(self, name: str, overrides: list[str]) -> Path:
        """The overrides written as a config file (what ``transfer synthesize`` reads)."""
        from humanparse.config import dump_config, load_config

        path = self.work / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_config(load_config(None, overrides)))
        return path

    def refiner(self, name: str, prior: str, priors: str, extra: Sequence[str] = ()) -> Path:
        """Train the refinement network with one kind of prior (and ``extra`` overrides); its model folder."""
        depth, width = (3, 8) if self.args.smoke else (self.args.refiner_depth, self.args.refiner_width)
        out = self.work / f"refiner_{name}"
        overrides = [f"model={REFINER % (depth, width, prior)}", *self.data, f"data.input_size={self.size}",
                     f"data.priors={priors}", "data.batch_size=4", "train.optimizer=adamw", "train.adam_beta1=0.5",
                     "train.weight_decay=0", "train.lr=0.0002", f"train.max_epochs={self.args.refiner_epochs}",
                     "train.accelerator=cpu", "train.devices=1", f"train.seed={self.args.seed}",
                     f"train.out_dir={out}", *extra]
        if not (out / "model" / "model.json").is_file():
            from humanparse.config import load_config
            from humanparse.engine.train import run_train

            run_train(load_config(None, overrides), progress=False)
        return out / "model"

    def synthesize(self, refiner: Path, name: str, k: int, split: str | None, keypoints: Path,
                   ids: str | None, root: Path | None = None) -> Path:
        from humanparse.transfer.synthesize import run_synthesize

        out = self.work / f"synth_{name}"
        if not (out / "pseudo.json").is_file():
            config = self.config_file("exemplars", self.data)
            run_synthesize(refiner, config, out, split=split, keypoints=keypoints, ids=ids, root=root, k=k,
                           progress=False)
        return out


def score_against_truth(setting: Setting, synthesised: Path) -> dict[str, float]:
    """Synthesised labels of the validation people against their true labels."""
    from humanparse.data.readers import open_dataset
    from humanparse.evaluation.parsing_metrics import ConfusionMatrix

    fmt = "lip" if setting.name == "synth" else "ccp"
    truth = open_dataset(fmt, setting.root, split="val" if setting.name == "synth" else None)
    index = {truth.sample_id(i): i for i in range(len(truth))}
    made = open_dataset("pseudo", synthesised, noise="none")
    matrix = ConfusionMatrix(truth.schema.num_classes)
    for i in range(len(made)):
        sample = made[i]
        matrix.update(sample.label, truth[index[sample.id]].label)
    scores = matrix.scores()
    return {"miou": 100 * scores.miou, "pixel_accuracy": 100 * scores.pixel_accuracy,
            "mean_accuracy": 100 * scores.mean_accuracy}


def prior_only(setting: Setting, k: int) -> dict[str, float]:
    """The argmax of the k = 3 part prior for each validation person, no refiner."""
    import torch.nn.functional as F
    import torch

    from humanparse.config import load_config
    from humanparse.engine.data import open_split
    from humanparse.evaluation.parsing_metrics import ConfusionMatrix
    from humanparse.transfer.priors import PriorMaker

    data = load_config(None, setting.data)["data"]
    reader, train = open_split(data, "train_split", "train_ids")
    exemplars = [reader[i] for i in train]
    maker = PriorMaker.from_samples(exemplars, reader.joint_schema, reader.schema.num_classes)
    val_reader, val = open_split(data, "val_split", "val_ids")
    matrix = ConfusionMatrix(reader.schema.num_classes)
    for i in val:
        s = val_reader[i]
        (prior,) = maker.priors(s.keypoints[:1], [s.size], k=k)
        full = F.interpolate(torch.from_numpy(prior)[None], size=s.size, mode="bilinear")[0]
        matrix.update(full.argmax(0).numpy(), s.label)
    scores = matrix.scores()
    return {"miou": 100 * scores.miou, "pixel_accuracy": 100 * scores.pixel_accuracy,
            "mean_accuracy": 100 * scores.mean_accuracy}


def table2(setting: Setting, args: argparse.Namespace) -> dict[str, Any]:
    split, ids = ("val", None) if setting.name == "synth" else (None, "0701-0800")
    rows: dict[str, Any] = {"prior alone (k=3)": prior_only(setting, 3)}
    variants = [("skeleton map", "skeleton", "{kind: skeleton}", 3)]
    variants += [(f"part prior k={k}", "parts", f"{{k: {k}, n: null}}", k) for k in args.ks]
    variants += [("part prior k=3 of n=5", "parts", "{k: 3, n: 5}", 3)]
    variants = [(*v, ()) for v in variants] + [
        (f"part prior k=3 of n=5, {VARIANTS[v][0]}", "parts", "{k: 3, n: 5}", 3, VARIANTS[v][1]) for v in args.variants
    ]
    for name, prior, priors, k, extra in variants:
        tag = name.replace(" ", "_").replace("=", "").replace(",", "")
        refiner = setting.refiner(tag, prior, priors, extra)
        rows[name] = score_against_truth(setting, setting.synthesize(refiner, f"val_{tag}", k, split, setting.keypoints, ids))
        print(f"[{setting.name}] {name}: mIoU {rows[name]['miou']:.2f}", flush=True)
    return rows


def table1(setting: Setting, args: argparse.Namespace) -> dict[str, Any]:
    refiner = setting.refiner("part_prior_k3_of_n5", "parts", "{k: 3, n: 5}")
    split, keypoints = setting.unlabelled
    synthesised = setting.synthesize(refiner, "keypoint_only", 3, split, keypoints, None, setting.unlabelled_root)
    config = bench.CONFIGS / f"{PARSERS[setting.name]}.yaml"
    rows: dict[str, Any] = {}
    for fraction in args.fractions:
        overrides = [*setting.data, f"train.max_epochs={args.parser_epochs}", "train.accelerator=cpu",
                     "train.devices=1", f"train.seed={args.seed}"]
        if fraction > 1 and setting.name == "ccp":
            overrides.append(f"data.train_ids={bench.CONFIGS / 'ccp' / 'splits' / f'hipn_labelled_1of{fraction}.txt'}")
        if setting.name == "synth":
            overrides.append(f"data.input_size={setting.size}")
        label = "all" if fraction == 1 else f"1/{fraction}"
        for with_synth in (False, True):
            extra = [f"data.pseudo_root={synthesised}", "data.pseudo_noise=none"] if with_synth else []
            name = f"{label} labelled" + (" + synthesised" if with_synth else "")
            out = setting.work / ("parser_" + name.replace(" ", "_").replace("/", "of").replace("+", "plus"))
            facts, result = bench.train_and_evaluate(config, [*overrides, *extra, f"train.out_dir={out}"])
            rows[name] = {**bench.parsing_scores(result), **facts}
            print(f"[{setting.name}] {name}: mIoU {rows[name]['miou']:.2f}", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_synthetic_arguments(parser, "runs/bench/wshp", images=400)
    bench.add_ccp_arguments(parser)
    parser.add_argument("--datasets", nargs="+", choices=tuple(PARSERS), default=["synth"])
    parser.add_argument("--tables", nargs="+", type=int, choices=(1, 2), default=[2, 1])
    parser.add_argument("--refiner-epochs", type=int, default=20)
    parser.add_argument("--refiner-width", type=int, default=64, help="the U-Net's first width (the paper's 64)")
    parser.add_argument("--refiner-depth", type=int, default=8,
                        help="the U-Net's levels (the paper's 8 at 256; an input is padded to a multiple of 2^depth)")
    parser.add_argument("--ccp-size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"),
                        help="CCP: the refiner's input size")
    parser.add_argument("--parser-epochs", type=int, default=8)
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 3, 5, 7])
    parser.add_argument("--variants", nargs="*", choices=tuple(VARIANTS), default=[],
                        help="Table 2: also the k=3 of n=5 refiner with another loss or the residual prior")
    parser.add_argument("--fractions", nargs="+", type=int, default=[8, 1], help="labelled parts: 1/N of train")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={
        "datasets": ["synth"], "refiner_epochs": 1, "parser_epochs": 1, "ks": [1], "fractions": [1], "images": 16,
    })
    results: dict[str, Any] = {}
    tables = []
    for name in args.datasets:
        setting = Setting(name, args)
        results[name] = {}
        if 2 in args.tables:
            results[name]["table2"] = table2(setting, args)
            tables.append(bench.parsing_table(f"{name}: Table 2 (synthesised labels of the validation people)",
                                      results[name]["table2"]))
        if 1 in args.tables:
            results[name]["table1"] = table1(setting, args)
            tables.append(bench.parsing_table(f"{name}: Table 1 (parser on validation)", results[name]["table1"]))
    print("\n" + "\n\n".join(tables))
    bench.write_results(args, "synthesised labels against the validation people's true labels; parsers on the "
                        "validation split, one scale, no flip; mIoU over classes present", rows=results)


if __name__ == "__main__":
    main()
