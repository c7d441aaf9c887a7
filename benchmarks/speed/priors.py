"""WSHP's prior generation: priors per second, batched against the straightforward loop.

The exemplars are CCP's labelled training photos with their detector joints (from
../shared/data; synthetic humans with LIP's parts where the real data is missing, or with
``--synthetic``); the targets are other labelled people, each given the mean of its k nearest
exemplars in pose morphed onto its bones, at the refiner's working resolution (longer side 256).
Rows, in one run on the same targets and neighbours:

    loop                  :func:`humanparse.transfer.morph.morph_loop`: one whole-image warp per
                          target, neighbour and bone (the straightforward implementation)
    batched, all bones    :func:`~humanparse.transfer.morph.morph_priors` with every bone a
                          candidate (the loop's result exactly)
    batched               the same with each pixel's three nearest target bones
    splatted              :func:`~humanparse.transfer.morph.splat_priors`: the neighbours'
                          labelled pixels carried forward by their bones (the default)

with retrieval (one batched distance computation) timed apart. Prints a table and writes JSON
(default benchmarks/results/priors.json).

    python benchmarks/speed/priors.py [--exemplars 700] [--targets 32] [--k 3] [--threads N]
                                      [--device cpu] [--synthetic] [--out FILE] [--smoke]

``--smoke``: 12 synthetic exemplars, 2 targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

CCP = Path(__file__).resolve().parents[3] / "shared" / "data" / "ccp"
DEFAULT_OUT = bench.RESULTS / "priors.json"


def people(args: argparse.Namespace) -> tuple[list[Any], str]:
    """Labelled people with joints: CCP's photos, or synthetic humans."""
    from humanparse.data.readers import open_dataset

    if not args.synthetic and (CCP / "keypoints" / "labeled_lip16.csv").is_file():
        reader = open_dataset("ccp", CCP, keypoints=CCP / "keypoints" / "labeled_lip16.csv")
        source = "CCP photos 0001-0800, MediaPipe joints (a teacher's)"
    else:
        from humanparse.data.synth import write_synthetic_dataset

        root = Path(args.work) / "synth_people"
        if not (root / "train_id.txt").is_file():
            write_synthetic_dataset(root, args.exemplars + args.targets, seed=0, size=(192, 128))
        reader = open_dataset("lip", root)
        source = "synthetic humans (real data not found)" if not args.synthetic else "synthetic humans"
    count = min(len(reader), args.exemplars + args.targets)
    return [reader[i] for i in range(count)], source


def timed(fn, repeats: int = 1) -> tuple[Any, float]:
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return out, (time.perf_counter() - start) / repeats


def main(argv: Sequence[str] | None = None) -> None:
    from humanparse.schemas import LIP_JOINTS
    from humanparse.transfer.morph import BONES, bone_ends, morph_loop, morph_priors, splat_priors
    from humanparse.transfer.priors import PriorMaker, _scaled, working_shape

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exemplars", type=int, default=700)
    parser.add_argument("--targets", type=int, default=32)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic humans even where CCP is there")
    parser.add_argument("--work", type=Path, default=Path("runs/bench/priors"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"exemplars": 12, "targets": 2, "synthetic": True})
    if args.threads:
        torch.set_num_threads(args.threads)
    samples, source = people(args)
    exemplars, targets = samples[: -args.targets], samples[-args.targets :]
    schema_classes = int(max(int(s.label.max()) for s in samples)) + 1
    num_classes = 59 if "CCP" in source else max(20, schema_classes)
    (maker, build_seconds) = timed(lambda: PriorMaker.from_samples(exemplars, LIP_JOINTS, num_classes))
    keypoints = np.stack([s.keypoints[0] for s in targets])
    neighbours, retrieval = timed(lambda: maker.neighbours(keypoints, args.k), repeats=3)
    # One working shape for all targets, the first one's: the rows compare one batch of work.
    shape = working_shape(*targets[0].label.shape)
    ends = bone_ends(np.stack([_scaled(kp, targets[0].label.shape, shape) for kp in keypoints]), LIP_JOINTS)
    rows: dict[str, dict[str, float]] = {}
    results = {}
    for name, fn in (
        ("loop", lambda: morph_loop(maker.bank, neighbours, ends, shape)),
        ("batched, all bones", lambda: morph_priors(maker.bank, neighbours, ends, shape, candidates=len(BONES))),
        ("batched", lambda: morph_priors(maker.bank, neighbours, ends, shape)),
        ("splatted", lambda: splat_priors(maker.bank, neighbours, ends, shape)),
    ):
        fn()  # warm-up
        results[name], seconds = timed(fn)
        rows[name] = {"seconds": seconds, "priors_per_s": len(targets) / seconds}
    loop = rows["loop"]["priors_per_s"]
    for name, row in rows.items():
        row["speedup"] = row["priors_per_s"] / loop
        row["max_abs_difference_to_loop"] = float((results[name] - results["loop"]).abs().max())
    print(f"{len(exemplars)} exemplars ({source}), {len(targets)} targets at {shape[0]}x{shape[1]}, k = {args.k}, "
          f"{torch.get_num_threads()} threads")
    print(f"exemplar bank built in {build_seconds:.1f} s; retrieval {1000 * retrieval:.1f} ms for all targets")
    for name in rows:
        rows[name]["values_differing_from_loop"] = float(((results[name] - results["loop"]).abs() > 1e-6).float().mean())
    print(f"{'':<20} {'priors/s':>9} {'speed-up':>9} {'differing':>10}")
    for name, row in rows.items():
        print(f"{name:<20} {row['priors_per_s']:9.1f} {row['speedup']:8.1f}x {100 * row['values_differing_from_loop']:9.3f}%")
    bench.write_json(args.out, {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__},
        "data": {"source": source, "exemplars": len(exemplars), "targets": len(targets), "shape": list(shape),
                 "bank_seconds": build_seconds, "retrieval_seconds": retrieval},
        "rows": rows,
    })


if __name__ == "__main__":
    main()
