"""The ``humanparse`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import __version__


def _cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import run_check

    return run_check(
        args.format, Path(args.root), schema=args.schema, split=args.split, labels_optional=args.labels_optional
    )


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.image_io import DataError
    from .data.synth import write_synthetic_dataset

    try:
        write_synthetic_dataset(
            Path(args.out), args.n, seed=args.seed, size=tuple(args.size), val_fraction=args.val_fraction
        )
    except ValueError as e:  # a bad -n, --size, --seed or --val-fraction
        if isinstance(e, DataError):
            raise
        print(f"humanparse synth: error: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_score_parsing(args: argparse.Namespace) -> int:
    from .evaluation.score import run_score_parsing

    return run_score_parsing(
        Path(args.gt), Path(args.pred), schema=args.schema, json_out=args.json, absent=args.absent
    )


def _cmd_score_pose(args: argparse.Namespace) -> int:
    from .evaluation.score import run_score_pose

    return run_score_pose(
        Path(args.gt), Path(args.pred), json_out=args.json, threshold=args.threshold, schema=args.schema
    )


def _cmd_schemas(args: argparse.Namespace) -> int:
    from .schemas import JOINT_SCHEMAS, LABEL_SCHEMAS, get_joint_schema, get_label_schema

    if args.name is None:
        print("label schemas:")
        for s in LABEL_SCHEMAS.values():
            print(f"  {s.name:<20} {s.num_classes:>3} classes  {s.description}")
        print("joint schemas:")
        for j in JOINT_SCHEMAS.values():
            print(f"  {j.name:<20} {j.num_joints:>3} joints   {j.description}")
        return 0
    if args.joints:
        js = get_joint_schema(args.name)
        print(f"{js.name}: {js.num_joints} joints; PCK reference {js.pck.kind} x {js.pck.factor}")
        for i, n in enumerate(js.joints):
            partner = js.flip_permutation[i]
            print(f"  {i:>3} {n}" + (f"  <-> {js.joints[partner]}" if partner != i else ""))
        return 0
    ls = get_label_schema(args.name)
    print(f"{ls.name}: {ls.num_classes} classes (255 = ignore)")
    for i, n in enumerate(ls.classes):
        partner = ls.flip_permutation[i]
        colour = "#%02x%02x%02x" % ls.palette[i]
        print(f"  {i:>3} {n:<20} {colour}" + (f"  <-> {ls.classes[partner]}" if partner != i else ""))
    for g, ids in ls.groups:
        print(f"  group {g}: {', '.join(ls.classes[i] for i in ids)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humanparse", description="Human parsing and pose estimation: data, training, scoring."
    )
    parser.add_argument("--version", action="version", version=f"humanparse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    schemas = sub.add_parser("schemas", help="list built-in schemas, or show / validate one")
    schemas.add_argument("name", nargs="?", help="a schema name or a .yaml file")
    schemas.add_argument("--joints", action="store_true", help="NAME is a joint schema")
    schemas.set_defaults(func=_cmd_schemas)

    data = sub.add_parser("data", help="inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    check = data_sub.add_parser(
        "check", help="walk a dataset, print counts, sizes and a class histogram, report every problem"
    )
    from .data.readers import FORMATS

    check.add_argument("--format", required=True, choices=sorted(FORMATS), help="dataset layout")
    check.add_argument("root", help="dataset folder (or file, for MPII .mat / json formats)")
    check.add_argument("--schema", help="label schema name or .yaml (default: the format's own)")
    check.add_argument("--split", help="only this split (e.g. train, val); default: all found")
    check.add_argument(
        "--labels-optional",
        action="store_true",
        help="an image without a label is not a problem (partly labelled sets)",
    )
    check.set_defaults(func=_cmd_data_check)

    synth = sub.add_parser("synth", help="write synthetic humans in LIP's layout")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("-n", type=int, required=True, help="number of images")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    synth.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of images in the val split (default 0.2)"
    )
    synth.set_defaults(func=_cmd_synth)

    score = sub.add_parser("score", help="score predictions under the official protocols")
    score_sub = score.add_subparsers(dest="score_command", required=True, metavar="SCORE_COMMAND")
    sp = score_sub.add_parser("parsing", help="score label PNGs against ground-truth PNGs")
    sp.add_argument("--gt", required=True, help="folder of ground-truth label PNGs")
    sp.add_argument("--pred", required=True, help="folder of predicted label PNGs (same stems)")
    sp.add_argument("--schema", required=True, help="label schema name or .yaml")
    sp.add_argument("--json", help="write the scores as JSON here")
    sp.add_argument(
        "--absent",
        choices=("skip", "zero"),
        default="skip",
        help="classes absent from both ground truth and prediction: skip them in the means "
        "(official LIP scripts, default) or count them as 0",
    )
    sp.set_defaults(func=_cmd_score_parsing)
    po = score_sub.add_parser("pose", help="PCK/PCKh of predicted joints")
    po.add_argument("--gt", required=True, help="MPII ground-truth .mat or LIP pose CSV")
    po.add_argument("--pred", required=True, help=".mat (pos_pred_src or preds) or CSV name,x1,y1,...,x16,y16")
    po.add_argument("--json", help="write the scores as JSON here")
    po.add_argument("--threshold", type=float, default=0.5, help="PCK threshold (default 0.5)")
    po.add_argument("--schema", help="joint schema (default: mpii for .mat, lip for .csv)")
    po.set_defaults(func=_cmd_score_pose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .data.image_io import DataError
    from .schemas import SchemaError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, SchemaError, FileNotFoundError) as e:
        print(f"humanparse: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("humanparse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
