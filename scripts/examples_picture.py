"""The README's picture of the bundled parser: its overlays of the three example photos
(photo | parsing and joints), side by side at one height.

    python scripts/examples_picture.py [--out docs/images/bundled_parser_examples.jpg] [--height 320]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from humanparse.bundled import example_photos
from humanparse.cli import main as humanparse

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "bundled_parser_examples.jpg")
    parser.add_argument("--height", type=int, default=320)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if humanparse(["predict", "--examples", "--out", folder]) != 0:
            raise SystemExit("predict failed")
        overlays = [Image.open(Path(folder) / f"{photo.stem}_overlay.jpg").convert("RGB") for photo in example_photos()]
        scaled = [im.resize((round(im.width * args.height / im.height), args.height), Image.LANCZOS) for im in overlays]
    picture = Image.new("RGB", (sum(im.width for im in scaled), args.height))
    x = 0
    for im in scaled:
        picture.paste(im, (x, 0))
        x += im.width
    picture.save(args.out, quality=88)
    print(f"wrote {args.out} ({picture.width}x{picture.height})")


if __name__ == "__main__":
    main()
