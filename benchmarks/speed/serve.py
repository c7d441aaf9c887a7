"""``humanparse serve`` under load on loopback: requests/s and latency, batching on and off.

For each mode (batching on: ``--max-batch 8 --max-wait-ms 10``; off: ``--no-batching``) a real
``humanparse serve`` process is started on a free local port with the model (default: the
bundled parser), warmed up, and sent ``--requests`` parse requests at each concurrency level
(default 1, 4 and 16 clients, each with its own keep-alive connection), cycling over the
bundled example photos. The run stops by itself. Per level: requests/s, p50 and p95 latency,
failed requests (any answer but 200, or none), the mean batch the server ran, and its resident
memory (from /proc) after warm-up and at its largest in the first and in the second half of the
level's requests: memory is flat when the second half's peak is no higher than the first's. Prints a table and writes JSON (default
benchmarks/results/serve.json).

    python benchmarks/speed/serve.py [--model NAME|PATH] [--requests 300] [--concurrency 1 4 16]
                                     [--modes batched unbatched] [--out FILE] [--smoke]

``--smoke``: a tiny untrained parser, 8 requests at 1 and 4 clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _common
import _common as bench  # noqa: E402

DEFAULT_OUT = bench.RESULTS / "serve.json"
MODES = {"batched": ["--max-batch", "8", "--max-wait-ms", "10"], "unbatched": ["--no-batching"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resident_mb(pid: int) -> float | None:
    """The process's resident memory in MB (Linux's /proc; None elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Server:
    """A ``humanparse serve`` process on a free loopback port, stopped on exit."""

    def __init__(self, model: str | None, options: Sequence[str]) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "humanparse.cli", "serve", "--port", str(self.port), "--max-queue", "64",
                   *(["--model", model] if model else []), *options]
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 180
        while True:
            try:
                status, _ = request(self.port, "GET", "/v1/health")
                if status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"humanparse serve did not start:\n{self.log.read()[-3000:]}")
            time.sleep(0.3)

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def request(port: int, method: str, path: str, body: bytes | None = None,
            connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "image/jpeg"} if body else {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        if own:
            connection.close()


def load(port: int, photos: list[bytes], total: int, clients: int, pid: int | None = None) -> dict[str, Any]:
    """``total`` parse requests from ``clients`` threads at once; their latencies and failures and,
    given the server's ``pid``, its largest resident memory in the first and in the second half
    of the requests (sampled every 0.1 s): flat memory has the two equal, a leak a larger second."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            start = time.perf_counter()
            try:
                status, _ = request(port, "POST", "/v1/parse?label_png=true", photos[index % len(photos)], connection)
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                failures[0] += status != 200
        connection.close()

    halves: list[list[float]] = [[], []]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss = resident_mb(pid) if pid is not None else None
            if rss is not None:
                halves[len(latencies) * 2 >= total].append(rss)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    sampler = threading.Thread(target=sample)
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    ms = 1000 * np.asarray(latencies)
    return {"clients": clients, "requests": total, "failed": failures[0], "seconds": round(wall, 2),
            "requests_per_s": round(total / wall, 2), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "rss_first_half_mb": round(max(halves[0]), 1) if halves[0] else None,
            "rss_second_half_mb": round(max(halves[1]), 1) if halves[1] else None}


def passes(port: int) -> tuple[int, int]:
    """Images and forward passes the served model has run so far."""
    _, health = request(port, "GET", "/v1/health")
    served = next(iter(json.loads(health)["models"].values()))
    return served["images"], served["batches"]


def tiny_model(folder: Path) -> str:
    from humanparse.inference.model_file import save_model
    from humanparse.models import build_model
    from humanparse.schemas import LIP

    spec = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8}
    return str(save_model(folder / "tiny", build_model(spec).eval(), spec, LIP, (64, 64)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a bundled model's name or a model folder (default: the bundled default)")
    parser.add_argument("--requests", type=int, default=300, help="requests at each concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--modes", nargs="+", choices=tuple(MODES), default=list(MODES))
    parser.add_argument("--warmup", type=int, default=8, help="requests before the timed levels")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = bench.parse_arguments(parser, argv, smoke={"requests": 8, "concurrency": [1, 4], "warmup": 2})
    from humanparse.bundled import example_photos

    photos = [p.read_bytes() for p in example_photos()]
    scratch = tempfile.TemporaryDirectory()
    model = tiny_model(Path(scratch.name)) if args.smoke else args.model
    rows: list[dict[str, Any]] = []
    for mode in args.modes:
        with Server(model, MODES[mode]) as server:
            load(server.port, photos, args.warmup, 1)
            warm = resident_mb(server.process.pid)
            for clients in args.concurrency:
                before = passes(server.port)
                row = {"mode": mode, **load(server.port, photos, args.requests, clients, server.process.pid),
                       "rss_warm_mb": None if warm is None else round(warm, 1)}
                images, batches = (a - b for a, b in zip(passes(server.port), before))
                row["mean_batch"] = round(images / max(1, batches), 2)
                rows.append(row)
                print(f"{mode:>9} x{clients:<3} {row['requests_per_s']:7.2f} req/s  p50 {row['p50_ms']:7.1f} ms  "
                      f"p95 {row['p95_ms']:7.1f} ms  failed {row['failed']}", flush=True)
    scratch.cleanup()
    header = (f"{'mode':>9} {'clients':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'failed':>6} {'batch':>6} "
              f"{'RSS MB: warm, peak 1st / 2nd half':>34}")
    lines = [header]
    for r in rows:
        memory = f"{r['rss_warm_mb']}, {r['rss_first_half_mb']} / {r['rss_second_half_mb']}"
        lines.append(f"{r['mode']:>9} {r['clients']:>7} {r['requests_per_s']:7.2f} {r['p50_ms']:8.1f} "
                     f"{r['p95_ms']:8.1f} {r['failed']:>6} {r['mean_batch']:6.2f} {memory:>34}")
    print("\n".join(lines))
    bench.write_results(args, f"POST /v1/parse of the bundled example photos on loopback, {os.cpu_count()} CPUs; "
                        "latency from request to the whole answer (JSON with the label PNG)", rows=rows)


if __name__ == "__main__":
    main()
