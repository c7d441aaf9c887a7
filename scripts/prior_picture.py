"""docs/wshp.md's picture of WSHP's priors on real photos: for a few CCP validation photos, the
photo with its (detector's) skeleton | the part-level prior from the k = 3 training photos nearest
in pose, morphed onto its bones (each class's colour weighted by its probability) | the true label.

    python scripts/prior_picture.py [--ccp DIR] [--ids 0703 0718 0741] [--out docs/images/wshp_priors.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from humanparse.data.readers import open_dataset
from humanparse.inference.predict import draw_skeleton
from humanparse.schemas import CCP, LIP_JOINTS
from humanparse.transfer.priors import PriorMaker

ROOT = Path(__file__).resolve().parent.parent
HEIGHT = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ccp", type=Path, default=ROOT.parent / "shared" / "data" / "ccp")
    parser.add_argument("--ids", nargs="+", default=["0703", "0718", "0741"])
    parser.add_argument("--exemplars", default="0001-0700")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "wshp_priors.jpg")
    args = parser.parse_args()
    reader = open_dataset("ccp", args.ccp, keypoints=args.ccp / "keypoints" / "labeled_lip16.csv")
    ids = [reader.sample_id(i) for i in range(len(reader))]
    first, last = args.exemplars.split("-")
    exemplars = [reader[i] for i, name in enumerate(ids) if first <= name <= last]
    maker = PriorMaker.from_samples(exemplars, LIP_JOINTS, CCP.num_classes)
    palette = CCP.palette_array().astype(np.float32)
    rows = []
    for name in args.ids:
        sample = reader[ids.index(name)]
        (prior,) = maker.priors(sample.keypoints[:1], [sample.size], k=3)
        prior = F.interpolate(torch.from_numpy(prior)[None], size=sample.size, mode="bilinear")[0].numpy()
        image = sample.image.astype(np.float32)
        # Each class's colour in proportion to its prior; the photo shows through where none is likely.
        colour = np.einsum("chw,cd->hwd", prior[1:], palette[1:])
        weight = prior[1:].sum(0, keepdims=True).transpose(1, 2, 0).clip(0, 1)
        shown = (1 - 0.7 * weight) * image + 0.7 * colour.clip(0, 255)
        truth = 0.3 * image + 0.7 * palette[sample.label]
        panels = [draw_skeleton(sample.image, sample.keypoints[0], LIP_JOINTS), shown.astype(np.uint8),
                  truth.astype(np.uint8)]
        row = np.concatenate(panels, axis=1)
        scale = HEIGHT / row.shape[0]
        rows.append(Image.fromarray(row).resize((round(row.shape[1] * scale), HEIGHT), Image.LANCZOS))
    picture = Image.new("RGB", (max(r.width for r in rows), HEIGHT * len(rows)))
    for i, row in enumerate(rows):
        picture.paste(row, (0, i * HEIGHT))
    picture.save(args.out, quality=88)
    print(f"wrote {args.out} ({picture.width}x{picture.height})")


if __name__ == "__main__":
    main()
