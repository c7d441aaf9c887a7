"""Put a trained model into the package as a bundled model (half-precision weights).

    python scripts/bundle_model.py RUN/model --name ccp-lite0 --scores val.json \\
        --dataset "CCP val (0701-0800)" --config configs/ccp/parser_efficientnet_lite0.yaml

``--scores`` is what ``humanparse evaluate --json`` wrote for that model; its scores are
recorded in the bundled model.json, where ``humanparse models`` reads them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from humanparse.bundled import bundle_model

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "src" / "humanparse" / "bundled"
KEPT_SCORES = ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "per_class_iou", "num_images", "convention", "protocol")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder written by humanparse train")
    parser.add_argument("--name", required=True, help="the bundled model's name (its folder in the package)")
    parser.add_argument("--scores", required=True, help="humanparse evaluate --json output for this model")
    parser.add_argument("--dataset", required=True, help="what the scores were measured on")
    parser.add_argument("--config", required=True, help="the config that trained it (recorded)")
    args = parser.parse_args()
    scores = json.loads(Path(args.scores).read_text(encoding="utf-8"))
    validation = {"dataset": args.dataset, **{k: scores[k] for k in KEPT_SCORES if k in scores}}
    training = {"config": args.config, "command": f"humanparse train {args.config}"}
    out = bundle_model(args.model, BUNDLED / args.name, validation=validation, training=training)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"wrote {out} ({size:.1f} MB): val mIoU {validation.get('miou')}")


if __name__ == "__main__":
    main()
