"""The ``humanparse`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import __version__


def _local_model(value: str | None, flag: str) -> Path:
    """A model flag's value as a folder: refused (naming the flag) when it is a URL; a bundled
    model's name (``humanparse models``) is its folder in the package; None is the default one."""
    from .bundled import resolve_model
    from .errors import UsageError
    from .io import local_path

    if value is not None:
        local_path(value, flag, UsageError)
    return resolve_model(value)


def _cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import run_check

    return run_check(
        args.format, Path(args.root), schema=args.schema, split=args.split, labels_optional=args.labels_optional,
        max_pixels=args.max_pixels, **({"keypoints": args.keypoints} if args.keypoints is not None else {}),
    )


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.synth import write_synthetic_dataset
    from .errors import HumanparseError, UsageError

    try:
        write_synthetic_dataset(
            Path(args.out), args.n, seed=args.seed, size=tuple(args.size), val_fraction=args.val_fraction,
            clutter=args.clutter,
        )
    except ValueError as e:
        if isinstance(e, HumanparseError):
            raise
        raise UsageError(str(e)) from None  # the generator checks its options with plain ValueErrors
    return 0


def _cmd_score_parsing(args: argparse.Namespace) -> int:
    from .evaluation.score import run_score_parsing

    return run_score_parsing(
        Path(args.gt), Path(args.pred), schema=args.schema, json_out=args.json, absent=args.absent,
        pred_schema=args.pred_schema,
    )


def _cmd_score_pose(args: argparse.Namespace) -> int:
    from .evaluation.score import run_score_pose

    return run_score_pose(
        Path(args.gt), Path(args.pred), json_out=args.json, threshold=args.threshold, schema=args.schema
    )


def _cmd_schemas(args: argparse.Namespace) -> int:
    from .schemas import JOINT_SCHEMAS, LABEL_SCHEMAS, get_joint_schema, get_label_schema, print_hierarchy

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
    print_hierarchy(ls)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    import json
    import textwrap

    from .bundled import describe_bundled_models

    rows = describe_bundled_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no bundled models (the package was installed without its model files)")
        return 0
    for row in rows:
        h, w = row["input_size"]
        print(f"{row['name']}{'  (default)' if row['default'] else ''}: {row['model']} on {row['backbone']}"
              f"{', ' + row['head'] if row['head'] else ''}, input {h}x{w}, {row['megabytes']} MB")
        val = row["validation"]
        if val:
            print(f"  validation ({val.get('dataset', '?')}, {val.get('num_images', '?')} images): "
                  f"mIoU {val['miou']:.2f}, pixel accuracy {val['pixel_accuracy']:.2f}, "
                  f"mean accuracy {val['mean_accuracy']:.2f}")
            pose = val.get("pose")
            if pose and pose.get("mean") is not None:
                teacher = ", against a pose detector's joints" if pose.get("ground_truth") else ""
                print(f"  joints: PCK@0.5 {pose['mean']:.1f} ({pose.get('protocol', '?')}{teacher})")
        classes = ", ".join(row["classes"])
        print(textwrap.fill(f"{len(row['classes'])} classes ({row['schema']}): {classes}",
                            width=100, initial_indent="  ", subsequent_indent="    "))
        if row["joints"]:
            print(textwrap.fill(f"{len(row['joints'])} joints: {', '.join(row['joints'])}",
                                width=100, initial_indent="  ", subsequent_indent="    "))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .engine.train import run_train

    config = load_config(args.config, args.overrides)
    summary = run_train(config, fast_dev_run=args.fast_dev_run)
    if args.fast_dev_run:
        print(f"fast dev run done: {summary['global_step']} training step(s) and one validation batch")
    elif summary.get("best_val_miou") is not None:
        print(f"best validation mIoU {summary['best_val_miou']:.2f} ({summary['best_checkpoint']})")
    elif summary.get("best_val_pck") is not None:
        print(f"best validation PCK {summary['best_val_pck']:.2f} ({summary['best_checkpoint']})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .config import load_config
    from .evaluation.evaluate import run_evaluate

    overrides = list(args.overrides)
    for key, value in (
        ("format", args.format), ("root", args.root), ("schema", args.schema), ("headboxes", args.headboxes),
    ):
        if value is not None:
            overrides.append(f"data.{key}={value}")
    if args.split is not None:
        overrides.append(f"data.val_split={args.split}")
    if args.ids is not None:
        overrides.append(f"data.val_ids={args.ids}")
    config = load_config(args.config, overrides)
    return run_evaluate(
        _local_model(args.model, "--model"), config["data"], json_out=args.json, absent=args.absent or config["eval"]["absent"],
        scales=args.scales, flip=args.flip, batch_size=args.batch_size, device=args.device, to_schema=args.to_schema,
        top_down=args.top_down or config["eval"]["top_down"], pck_threshold=args.pck_threshold,
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from .bundled import example_photos
    from .errors import UsageError
    from .inference.predict import run_predict

    inputs = list(args.inputs) + (example_photos() if args.examples else [])
    if not inputs:
        raise UsageError("give images, folders or videos to parse, or --examples for the bundled example photos")
    return run_predict(
        _local_model(args.model, "--model"), inputs, args.out, device=args.device, batch_size=args.batch_size,
        scales=args.scales, flip=args.flip, save_probabilities=args.probabilities,
        save_scale_weights=args.scale_weights, amp=args.amp, to_schema=args.to_schema, max_pixels=args.max_pixels,
    )


def _cmd_pseudo_label(args: argparse.Namespace) -> int:
    from .semi.pseudo_labels import write_pseudo_labels

    record = write_pseudo_labels(
        _local_model(args.model, "--model"), args.inputs, args.out, device=args.device, batch_size=args.batch_size,
        epsilon=args.epsilon, max_pixels=args.max_pixels,
    )
    print(f"wrote pseudo-labels for {record['images']} images to {args.out} (levels from {record['levels']['from']}); "
          f"train on them with data.pseudo_root={args.out}")
    return 0


def _cmd_transfer_synthesize(args: argparse.Namespace) -> int:
    from .transfer.synthesize import run_synthesize

    record = run_synthesize(
        _local_model(args.refiner, "--refiner"), args.config, args.out, split=args.split, keypoints=args.keypoints,
        ids=args.ids, root=args.root, k=args.k, margin=args.margin, device=args.device,
    )
    print(f"wrote synthesised labels for {record['images']} images to {args.out}"
          + (f" ({len(record['without_joints'])} without a usable person: background)" if record["without_joints"] else "")
          + (f"; {len(record['without_torso'])} people without a torso left out" if record.get("without_torso") else "")
          + f"; train on them with data.pseudo_root={args.out}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .inference.export import export_onnx

    from .errors import HumanparseError, UsageError

    try:
        out = export_onnx(
            _local_model(args.model, "MODEL"), args.onnx, opset=args.opset, dynamic_size=args.dynamic_size,
            dynamo=args.dynamo, verify=args.verify,
        )
    except (ImportError, ValueError) as e:  # onnx extra missing, bad name, or parity failed
        if isinstance(e, HumanparseError):
            raise
        raise UsageError(str(e)) from None
    print(f"wrote {out}" + (" (checked against PyTorch with onnxruntime)" if args.verify else ""))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .errors import UsageError
    from .io import local_path
    from .serve import run_server

    for value in args.model or []:
        local_path(value, "--model", UsageError)
    if args.max_pixels is None:
        raise UsageError("the server needs a pixel limit: --max-pixels N with N > 0")
    from .serve.app import ServeSettings

    settings = ServeSettings(
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=args.max_pixels,
        max_batch=1 if args.no_batching else args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
    )
    return run_server(args.model or [None], host=args.host, port=args.port, device=args.device, settings=settings)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, minutes=args.minutes, num_images=args.num_images, seed=args.seed)
    return 0


def _pixel_count(text: str) -> int | None:
    """A --max-pixels value: a positive count (180000000 or 180e6), or 0 for no limit."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of pixels: {text!r}") from None
    if not (value >= 0 and value.is_integer()):
        raise argparse.ArgumentTypeError(f"a number of pixels is a whole number >= 0, not {text!r}")
    return int(value) or None


def _add_max_pixels(parser: argparse.ArgumentParser, what: str) -> None:
    from .data.image_io import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--max-pixels", type=_pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"{what} over N pixels (e.g. 250e6) is refused from its header, before it is decoded "
        f"(default {DEFAULT_MAX_PIXELS:,}; 0: no limit)",
    )


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
    check.add_argument(
        "--keypoints", metavar="CSV",
        help="ccp: a LIP pose CSV of joints for the photos (e.g. a pose detector's), checked and attached to them",
    )
    _add_max_pixels(check, "an image or label")
    check.set_defaults(func=_cmd_data_check)

    synth = sub.add_parser("synth", help="write synthetic humans in LIP's layout")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("-n", type=int, required=True, help="number of images")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    synth.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of images in the val split (default 0.2)"
    )
    synth.add_argument(
        "--clutter", type=float, default=1.0,
        help="how busy scenes are, 0..1 (default 1: clutter in the person's colours, occluders; 0: plain backgrounds)",
    )
    synth.set_defaults(func=_cmd_synth)

    score = sub.add_parser("score", help="score predictions under the official protocols")
    score_sub = score.add_subparsers(dest="score_command", required=True, metavar="SCORE_COMMAND")
    sp = score_sub.add_parser("parsing", help="score label PNGs against ground-truth PNGs")
    sp.add_argument("--gt", required=True, help="folder of ground-truth label PNGs")
    sp.add_argument("--pred", required=True, help="folder of predicted label PNGs (same stems)")
    sp.add_argument("--schema", required=True, help="label schema name or .yaml")
    sp.add_argument(
        "--pred-schema", metavar="SCHEMA",
        help="the predictions are in this label schema (or a mapping .yaml to --schema): mapped, then scored "
        "on the classes they reach",
    )
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

    train = sub.add_parser(
        "train", help="train a model from a config (configs/<dataset>/<method>.yaml)",
        description="Train a model from a config. Every value is checked (type, range, choices) after the "
        "overrides, and train.accelerator, train.devices and train.out_dir before the data is read.",
    )
    train.add_argument("config", help="config YAML")
    train.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE",
        help="override any config value, e.g. train.lr=0.02 data.batch_size=4 model.backbone=resnet18",
    )
    train.add_argument(
        "--fast-dev-run", action="store_true", help="one batch through training and validation, no files kept"
    )
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="score a saved model on a dataset split (official protocol)")
    ev.add_argument("--model", required=True, help="model folder written by train (RUN/model) or a bundled model's name")
    ev.add_argument("--config", help="config YAML whose data section names the dataset")
    ev.add_argument("--format", help="dataset format (overrides the config)")
    ev.add_argument("--root", help="dataset folder (overrides the config)")
    ev.add_argument("--schema", help="label schema of the data (default: the model's)")
    ev.add_argument("--split", help="split to score (default: the config's val split, else val)")
    ev.add_argument("--ids", help="a subset of ids: first-last, or an id-list file")
    ev.add_argument("--scales", type=float, nargs="+", help="test-time scales (default: the model file's)")
    ev.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="flip test-time augmentation")
    ev.add_argument("--batch-size", type=int, default=4)
    ev.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu; checked to be there)")
    ev.add_argument("--json", help="write the scores as JSON here")
    ev.add_argument("--absent", choices=("skip", "zero"), help="absent-class convention (default: skip)")
    ev.add_argument(
        "--to-schema", metavar="SCHEMA",
        help="the data's labels are in this label schema (or a mapping .yaml from the model's): predictions "
        "are mapped into it and scored on the classes they reach (e.g. a LIP model on ATR)",
    )
    ev.add_argument(
        "--top-down", action="store_true", default=False,
        help="score joints with every annotated person predicted from its own box (MPII: 200 x scale x 1.25 px "
        "about its centre), as the LIP paper scores its LIP-trained pose models on MPII (Table 10)",
    )
    ev.add_argument(
        "--pck-threshold", type=float, default=0.5, metavar="T",
        help="a joint is correct within T x the schema's reference length (default 0.5: PCK@0.5, PCKh@0.5)",
    )
    ev.add_argument(
        "--headboxes", metavar="MAT",
        help="MPII: the ground-truth .mat whose head boxes PCKh needs (default: mpii_gt_<split>.mat beside the json)",
    )
    ev.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.val_ids=0701-0800")
    ev.set_defaults(func=_cmd_evaluate)

    mo = sub.add_parser("models", help="list the bundled models: classes, input size, validation scores")
    mo.add_argument("--json", action="store_true", help="print them as JSON (per-class IoU included)")
    mo.set_defaults(func=_cmd_models)

    pr = sub.add_parser("predict", help="parse images, folders and videos (with the bundled parser unless --model says)")
    pr.add_argument(
        "--model", help="model folder (RUN/model), its model.json, or a bundled model's name "
        "(default: the bundled default; see `humanparse models`)",
    )
    pr.add_argument("inputs", nargs="*", metavar="INPUT", help="images, folders of images, videos")
    pr.add_argument("--examples", action="store_true", help="also parse the bundled example photos (three CCP photos)")
    pr.add_argument("--out", required=True, help="output folder (checked writable before any work)")
    pr.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu; checked to be there)")
    pr.add_argument("--batch-size", type=int, default=4)
    pr.add_argument("--scales", type=float, nargs="+", help="test-time scales (default: the model file's)")
    pr.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="flip test-time augmentation")
    pr.add_argument("--probabilities", action="store_true", help="also write per-class probabilities (<name>_prob.npy, float16)")
    pr.add_argument(
        "--scale-weights", action="store_true",
        help="also write each image's per-pixel weights over the model's input scales (<name>_scale_weights.png; "
        "SS-NAN, Attention-to-scale)",
    )
    pr.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    pr.add_argument(
        "--to-schema", metavar="SCHEMA",
        help="write labels in this label schema (a built-in name, or a mapping .yaml from the model's schema)",
    )
    _add_max_pixels(pr, "an image or video frame")
    pr.set_defaults(func=_cmd_predict)

    pl = sub.add_parser(
        "pseudo-label", help="pseudo-label unlabelled images, with the evidence HIPN's noise identification reads",
    )
    pl.add_argument("--model", required=True, help="model folder (RUN/model), its model.json, or a bundled model's name")
    pl.add_argument("inputs", nargs="+", metavar="IMAGES", help="images and folders of images")
    pl.add_argument("--out", required=True, help="the pseudo-label folder to write (images/, labels/, evidence/)")
    pl.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    pl.add_argument("--batch-size", type=int, default=4)
    pl.add_argument("--epsilon", type=float, default=1e-6, help="the smoothed Dirac's mass off the argmax (default 1e-6)")
    _add_max_pixels(pl, "an image")
    pl.set_defaults(func=_cmd_pseudo_label)

    tr = sub.add_parser("transfer", help="pose-guided knowledge transfer (WSHP): labels for people with joints only")
    tr_sub = tr.add_subparsers(dest="transfer_command", required=True)
    syn = tr_sub.add_parser(
        "synthesize", help="parsing labels for the people of a keypoint-only split, from pose-similar labelled people",
    )
    syn.add_argument("--refiner", required=True, help="the trained refinement network (wshp_refiner model folder)")
    syn.add_argument("--config", required=True, help="a config whose data section's training split is the exemplars")
    syn.add_argument("--split", help="the keypoint-only split of that dataset (e.g. unlabeled for CCP)")
    syn.add_argument("--keypoints", help="the joints of the split's people (a LIP pose CSV; CCP needs it, LIP-layout "
                     "data may bring its own)")
    syn.add_argument("--root", help="the targets' dataset folder, in the config's format (default: the config's)")
    syn.add_argument("--ids", help="only these ids (a list, 'first-last' or an id-list file)")
    syn.add_argument("--k", type=int, default=3, help="exemplars averaged into each prior (default 3)")
    syn.add_argument("--margin", type=float, default=0.25, help="each person's box beyond its joints, per side")
    syn.add_argument("--out", required=True, help="the folder of synthesised labels to write (a pseudo-label folder)")
    syn.add_argument("--device", default="cpu")
    syn.set_defaults(func=_cmd_transfer_synthesize)

    ex = sub.add_parser("export", help="export a saved model to ONNX (needs the onnx extra)")
    ex.add_argument("model", help="model folder (RUN/model), its model.json, or a bundled model's name")
    ex.add_argument("--onnx", required=True, metavar="OUT", help="ONNX file to write (.onnx; a .json goes beside it)")
    ex.add_argument("--opset", type=int, default=17)
    ex.add_argument("--dynamic-size", action="store_true", help="let height and width vary too (batch always does)")
    ex.add_argument("--dynamo", action="store_true", help="use the torch.export-based exporter")
    ex.add_argument("--verify", action="store_true", help="check onnxruntime against PyTorch after export")
    ex.set_defaults(func=_cmd_export)

    se = sub.add_parser("serve", help="an HTTP API and a web page that parse photos (needs the serve extra)")
    se.add_argument(
        "--model", action="append", metavar="NAME|PATH",
        help="a bundled model's name or a model folder; repeat to serve several (the first is the default; "
        "default: the bundled default)",
    )
    se.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    se.add_argument("--port", type=int, default=8000)
    se.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    se.add_argument("--max-batch", type=int, default=8, help="images in one forward pass at most (default 8)")
    se.add_argument("--max-wait-ms", type=float, default=10.0,
                    help="how long a request waits for others to batch with (default 10)")
    se.add_argument("--no-batching", action="store_true", help="one forward pass per request")
    se.add_argument("--max-queue", type=int, default=32,
                    help="requests waiting per model before 503 with Retry-After (default 32)")
    se.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted (default 20 MB)")
    se.add_argument(
        "--max-pixels", type=_pixel_count, default=40_000_000, metavar="N",
        help="an image over N pixels is refused from its header, before it is decoded (default 40,000,000)",
    )
    se.set_defaults(func=_cmd_serve)

    demo = sub.add_parser(
        "demo", help="synthetic humans -> train a small parser on the CPU -> evaluate -> predict (no download)"
    )
    demo.add_argument("--out", default="demo", help="output folder (default ./demo)")
    demo.add_argument("--minutes", type=float, default=3.5, help="training time budget (default 3.5)")
    demo.add_argument("--num-images", type=int, default=1500, help="synthetic people to generate (default 1500)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the only place errors are printed and exit codes chosen: 0 success,
    1 some inputs could not be used (reported, the rest done), 2 the command could not run."""
    from .errors import HumanparseError

    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    # KEY=VALUE overrides after a flag (`train CONFIG --fast-dev-run lr=0.1`) are overrides too;
    # anything else unknown is refused as argparse refuses it.
    if rest and hasattr(args, "overrides") and all("=" in r and not r.startswith("-") for r in rest):
        args.overrides = [*args.overrides, *rest]
    elif rest:
        parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (HumanparseError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"humanparse: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("humanparse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
