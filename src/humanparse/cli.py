"""The ``humanparse`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import __version__


def _cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import run_check

    return run_check(args.format, Path(args.root), schema=args.schema, split=args.split)


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.synth import write_synthetic_dataset

    write_synthetic_dataset(
        Path(args.out), args.n, seed=args.seed, size=tuple(args.size), val_fraction=args.val_fraction
    )
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humanparse", description="Human parsing and pose estimation: data, training, scoring."
    )
    parser.add_argument("--version", action="version", version=f"humanparse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
