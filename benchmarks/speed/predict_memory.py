"""Peak memory and time of ``humanparse predict`` on large photos.

Real photos (CCP's, from ../shared/data) are upscaled to ``--size`` (default 4000x6000, 24
megapixels) and parsed by a freshly initialised small DeepLab with LIP's 20 classes (the memory
of the original-resolution steps depends on the photo's pixels and the class count, not on the
weights). Each row is one ``humanparse predict`` command in a subprocess; its peak resident set
is the kernel's (``wait4``'s ru_maxrss). Prints a table and writes the figures as JSON (default
benchmarks/results/predict_memory.json), with a digest of each row's label PNGs so that runs of
different code can be compared for identical predictions.

    python benchmarks/speed/predict_memory.py [--photos 4] [--size 4000 6000] [--batch-sizes 1 4]
                                              [--photos-from FOLDER] [--work DIR] [--reference DIR]
                                              [--out FILE] [--smoke]

Without the real photos the script says so and uses synthetic people instead. ``--smoke``: two
small photos, one batch size, in a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

from humanparse.inference.model_file import save_model  # noqa: E402
from humanparse.models import build_model  # noqa: E402
from humanparse.schemas import LIP  # noqa: E402

DEFAULT_OUT = bench.RESULTS / "predict_memory.json"
REAL_PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ccp" / "images"
SRC = Path(__file__).resolve().parents[2] / "src"
MODEL_SPEC = {"name": "deeplab", "backbone": "resnet18", "base_width": 8, "output_stride": 8,
              "num_classes": LIP.num_classes}


def make_photos(source: Path, count: int, size: tuple[int, int], folder: Path) -> str:
    """``count`` JPEGs of ``size`` (height, width) in ``folder``; returns where they came from."""
    folder.mkdir(parents=True, exist_ok=True)
    originals = sorted(source.glob("*.jpg"))[:count] if source.is_dir() else []
    if len(originals) < count:
        print(f"real photos not found at {source}: using synthetic people instead", file=sys.stderr)
        from humanparse.data.synth import write_synthetic_dataset

        write_synthetic_dataset(folder / "synth", count, seed=0, size=(256, 256), val_fraction=0.5)
        originals = sorted((folder / "synth").rglob("*.jpg"))[:count]
        where = "synthetic people"
    else:
        where = str(source)
    for i, path in enumerate(originals):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        big = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"photo_{i}.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return where


def agreement(out: Path, reference: Path) -> float | None:
    """The share of pixels whose class ids in ``out``'s label PNGs equal those of the same names in ``reference``."""
    same = total = 0
    for png in sorted(out.glob("*.png")):
        if not (reference / png.name).is_file():
            return None
        ours, theirs = cv2.imread(str(png), cv2.IMREAD_UNCHANGED), cv2.imread(str(reference / png.name), cv2.IMREAD_UNCHANGED)
        same += int((ours == theirs).sum())
        total += ours.size
    return same / total if total else None


def predict_row(
    model: Path, photos: Path, out: Path, batch_size: int, scales: list[float], reference: Path | None
) -> dict[str, Any]:
    """One ``humanparse predict`` run: exit code, seconds, peak resident set, label digest and,
    given a reference run's folder, the pixel agreement with its labels."""
    command = [sys.executable, "-m", "humanparse.cli", "predict", "--model", str(model), str(photos),
               "--out", str(out), "--batch-size", str(batch_size), "--scales", *map(str, scales)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the other rows'
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    digest = hashlib.sha256()
    for png in sorted(out.glob("*.png")):
        digest.update(png.read_bytes())
    return {
        "batch_size": batch_size, "exit_code": process.returncode, "seconds": round(seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024), "labels_sha256": digest.hexdigest(),
        **({"agreement": agreement(out, reference / out.name)} if reference is not None else {}),
        **({"stderr_tail": errors[-400:]} if process.returncode else {}),
    }


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.6f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=4, help="photos per run")
    parser.add_argument("--size", type=int, nargs=2, default=[4000, 6000], metavar=("H", "W"),
                        help="photo size after upscaling (default 4000x6000)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4], help="--batch-size of each row")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0], help="test-time scales")
    parser.add_argument("--input-size", type=int, default=473, help="the model's square input side")
    parser.add_argument("--photos-from", type=Path, default=REAL_PHOTOS, help="JPEGs to upscale")
    parser.add_argument("--work", type=Path, default=bench.RESULTS / "predict_memory_work",
                        help="photos, model and predictions go here")
    parser.add_argument("--reference", type=Path, help="another run's --work folder: report the pixel agreement "
                        "of each row's labels with that run's row of the same batch size")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"photos": 2, "size": [96, 64], "batch_sizes": [2],
                                                      "input_size": 64})
    size = (args.size[0], args.size[1])
    photos = args.work / f"photos_{size[0]}x{size[1]}"
    source = make_photos(args.photos_from, args.photos, size, photos)
    torch.manual_seed(0)  # the same weights in every run, so that runs of different code compare
    model = save_model(args.work / "model", build_model(MODEL_SPEC).eval(), MODEL_SPEC, LIP,
                       (args.input_size, args.input_size))
    rows = []
    print(f"{'photos':>6} {'size':>11} {'batch':>5} {'peak RSS MB':>11} {'seconds':>8} {'exit':>4} {'agreement':>9}")
    for batch_size in args.batch_sizes:
        row = {"photos": args.photos, "size": list(size),
               **predict_row(model, photos, args.work / f"pred_b{batch_size}", batch_size, args.scales, args.reference)}
        rows.append(row)
        print(f"{args.photos:>6} {size[0]:>5}x{size[1]:<5} {batch_size:>5} {row['peak_rss_mb']:>11} "
              f"{row['seconds']:>8} {row['exit_code']:>4} {_percent(row.get('agreement')):>9}", flush=True)
    bench.write_json(args.out, {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                    "photos": source, "model": MODEL_SPEC},
        "rows": rows,
    })
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
