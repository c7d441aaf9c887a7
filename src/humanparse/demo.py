"""``humanparse demo``: the whole job on a CPU in a few minutes, with nothing to download.

It writes synthetic humans, trains a small DeepLab on them, scores the saved model on the
validation split under the official protocol, and runs ``predict`` on a few validation
images. Everything lands under one folder:

    OUT/data/         the synthetic dataset (LIP's layout; reused by the next demo in OUT)
    OUT/run/          checkpoints, CSV/TensorBoard logs, config.yaml, model/ (the model file)
    OUT/scores.json   the validation scores
    OUT/predictions/  label PNGs, overlays and JSON summaries
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from .config import load_config
from .data.image_io import read_label
from .evaluation import majority_scores
from .schemas import LIP

# A small, CPU-friendly recipe: a quarter-width ResNet-18 DeepLab at 96x96, AdamW. From
# scratch, a network needs on the order of a thousand steps before it tells people from
# background by their shape, so the demo buys steps with small images and batches; its
# people stand on uncluttered backgrounds (clutter 0), which it learns from in minutes.
DEMO_SIZE = (96, 96)
DEMO_CLUTTER = 0.0
DEMO_OVERRIDES = [
    "model.name=deeplab", "model.backbone=resnet18", "model.base_width=16", "model.output_stride=8",
    "model.head=aspp_v3",
    "data.format=lip", f"data.input_size=[{DEMO_SIZE[0]}, {DEMO_SIZE[1]}]", "data.batch_size=8",
    "data.num_workers=1",
    # Within minutes the network underfits, so only flips (free variety, left/right swapped).
    "data.augment.scale=[1.0, 1.0]", "data.augment.rotation=0.0", "data.augment.flip=0.5",
    "data.augment.jitter=false",
    "train.optimizer=adamw", "train.lr=0.005", "train.weight_decay=0.0001", "train.max_epochs=8",
    "train.log_every_n_steps=10", "train.accelerator=cpu", "train.devices=1",
]


def demo_config(out: Path, minutes: float, overrides: list[str] | None = None) -> dict[str, Any]:
    config = load_config(None, [
        *DEMO_OVERRIDES,
        f"data.root={out / 'data'}",
        f"train.out_dir={out / 'run'}",
        f"train.max_time=00:00:{int(minutes):02d}:{int(round((minutes % 1) * 60)):02d}",
        *(overrides or []),
    ])
    return config


def run_demo(
    out: str | Path = "demo",
    *,
    num_images: int = 1500,
    minutes: float = 3.5,
    seed: int = 0,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo; returns a summary with the validation mIoU and where things are."""
    from .data.synth import write_synthetic_dataset
    from .evaluation.evaluate import run_evaluate
    from .engine.train import run_train
    from .inference.predict import run_predict

    out = Path(out)
    started = time.monotonic()
    data_dir = out / "data"
    if not (data_dir / "val_id.txt").is_file():
        print(f"[1/4] writing {num_images} synthetic people to {data_dir}")
        write_synthetic_dataset(
            data_dir, num_images, seed=seed, size=DEMO_SIZE, val_fraction=0.15, clutter=DEMO_CLUTTER
        )
    else:
        print(f"[1/4] reusing the synthetic people in {data_dir}")
    if (out / "run").is_dir():  # a fresh training run each time; the data is kept
        shutil.rmtree(out / "run")
    config = demo_config(out, minutes, overrides)
    config["train"]["seed"] = seed
    print(f"[2/4] training a small DeepLab on the CPU for at most {minutes:g} minutes")
    summary = run_train(config, progress=progress)
    model_dir = Path(summary["model"])
    print(f"[3/4] scoring {model_dir} on the validation split")
    scores_path = out / "scores.json"
    run_evaluate(model_dir, config["data"], json_out=str(scores_path), batch_size=16, progress=progress)
    val_ids = (data_dir / "val_id.txt").read_text().split()
    images = [data_dir / "val_images" / f"{i}.jpg" for i in val_ids[:4]]
    print(f"[4/4] predicting {len(images)} validation images into {out / 'predictions'}")
    run_predict(model_dir, images, out / "predictions", batch_size=4)

    miou = json.loads(scores_path.read_text())["miou"]
    labels = [read_label(data_dir / "val_segmentations" / f"{i}.png") for i in val_ids]
    floor = 100 * majority_scores(labels, LIP.num_classes).miou
    elapsed = time.monotonic() - started
    print(f"demo done in {elapsed / 60:.1f} min: validation mIoU {miou:.2f}% (predicting the most "
          f"frequent class everywhere scores {floor:.2f}%); model file {model_dir}")
    return {"miou": miou, "majority_miou": floor, "model": str(model_dir), "seconds": elapsed, "out": str(out)}


__all__ = ["DEMO_CLUTTER", "DEMO_OVERRIDES", "DEMO_SIZE", "demo_config", "run_demo"]
