"""Put a trained model into the package as a bundled model (half-precision weights).

    python scripts/bundle_model.py RUN/model --name ccp-lite0 --scores val.json \\
        --dataset "CCP val (0701-0800)" --config configs/ccp/parser_efficientnet_lite0.yaml \\
        --config configs/ccp/parser_joints_efficientnet_lite0.yaml

``--scores`` is what ``humanparse evaluate --json`` wrote for that model; its scores (parsing,
and joints' PCK for a model that predicts them) are recorded in the bundled model.json, where
``humanparse models`` reads them. ``--config``, once per training run that made the model, in
order, records how to make it again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from humanparse.bundled import bundle_model

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "src" / "humanparse" / "bundled"
KEPT_SCORES = ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "per_class_iou", "num_images", "convention", "protocol",
               "pose")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder written by humanparse train")
    parser.add_argument("--name", required=True, help="the bundled model's name (its folder in the package)")
    parser.add_argument("--scores", required=True, help="humanparse evaluate --json output for this model")
    parser.add_argument("--dataset", required=True, help="what the scores were measured on")
    parser.add_argument("--config", required=True, action="append",
                        help="a config that trained it (recorded; once per training run, in order)")
    args = parser.parse_args()
    scores = json.loads(Path(args.scores).read_text(encoding="utf-8"))
    validation = {"dataset": args.dataset, **{k: scores[k] for k in KEPT_SCORES if k in scores}}
    pose = validation.get("pose") or {}
    if "ground_truth" in pose:  # the keypoint file by its name, not this machine's path
        path, _, rest = pose["ground_truth"].partition(" ")
        pose["ground_truth"] = f"{Path(path).name} {rest}".strip()
    training = {"configs": args.config, "commands": [f"humanparse train {c}" for c in args.config]}
    out = bundle_model(args.model, BUNDLED / args.name, validation=validation, training=training)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"wrote {out} ({size:.1f} MB): val mIoU {validation.get('miou')}")


if __name__ == "__main__":
    main()
