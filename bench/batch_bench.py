"""Benchmark: dynamic batching in the model runner, batched vs unbatched, with wrk.

Run: .venv/bin/python bench/batch_bench.py [--seconds 8] [--rounds 2] [--connections 1,16,64]
(`make bench-batch`; needs a Docker engine, and installs Debian's wrk when missing and
run as root).

It builds bench/models/matmul (numpy; each call costs a fixed ~4 ms of matrix products
plus ~0.07 ms per input, see its model.py) into an image the way the build task does, and
starts two replicas of that one image as the orchestrator would (the same locked-down
container, 1 CPU core each, MODEL_CONCURRENCY 4): one with BATCH_MAX_SIZE=32 and
BATCH_MAX_WAIT_MS=5, as its config.yaml asks, and one without batching. wrk then sends
POST /predict with one input per request to each, at its bridge address (no Docker
proxy in the way), at 1, 16 and 64 connections.

The two rows of a connection count run in turn, `--rounds` times, and each cell is the
median of its rounds: this machine's speed drifts from minute to minute, and interleaving
puts both rows under the same drift. Only one container is loaded at a time.

Goal (issue 18): at 64 connections >= 5x the unbatched throughput, and at 1 connection a
p50 no worse than the unbatched one + max_wait_ms + 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.predict_wrk import ensure_wrk, run_wrk  # noqa: E402
from orchestration import docker_engine as engine  # noqa: E402
from orchestration.catalog.build_context import (  # noqa: E402
    content_hash,
    image_tag,
    make_build_context,
    prepare_site_packages,
)

MODEL_DIR = ROOT / "bench" / "models" / "matmul"
URL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
BASE = os.environ.get("BASE_IMAGE", "orchestration/base:bookworm-py311")
LABEL = "orchestration.bench-batch"
MAX_BATCH_SIZE = 32
MAX_WAIT_MS = 5.0
BODY = {"inputs": [{"text": {"raw": "the quick brown fox"}}]}
ROWS = ("unbatched", "batched")


def build_image() -> str:
    subprocess.run(
        [str(ROOT / "scripts" / "build-base-image")],
        env={**os.environ, "BASE_IMAGE": BASE},
        check=True,
    )
    tag = image_tag("matmul-bench", "bench", content_hash(MODEL_DIR, BASE))
    if engine.image_exists(URL, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as work:
        site, _ = prepare_site_packages(MODEL_DIR / "requirements.txt", Path(work))
        context, _ = make_build_context(MODEL_DIR, BASE, site_packages_dir=site)
        engine.build_image(URL, context, tag, {LABEL: "true"})
    return tag


def start_replica(image: str, name: str, env: dict[str, str]) -> tuple[str, str]:
    """(container id, predict URL at the container's bridge address) once ready."""
    container = engine.run_replica(
        URL,
        image=image,
        name=f"bench-batch-{name}-{uuid.uuid4().hex[:6]}",
        labels={LABEL: "true"},
        cpu=1.0,
        memory_bytes=512 * 2**20,
        env={"MODEL_CONCURRENCY": "4", **env},
    )
    address = container.ip_address or f"127.0.0.1:{container.host_port}"
    base = f"http://{address}:8080" if container.ip_address else f"http://{address}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            health = httpx.get(base + "/healthz", timeout=2)
            if health.status_code == 200:
                return container.id, base
            if health.status_code == 500:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    logs = engine.container_logs(URL, container.id, tail=40)
    engine.stop_and_remove(URL, container.id, timeout=2)
    sys.exit(f"replica {name} never became ready:\n{logs}")


def average_batch(base: str, before: dict) -> float:
    after = httpx.get(base + "/healthz", timeout=5).json()
    calls = after["batches"] - before["batches"]
    return (after["batched_inputs"] - before["batched_inputs"]) / calls if calls else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", default="1,16,64")
    args = parser.parse_args()
    conns = [int(c) for c in args.connections.split(",")]

    wrk = ensure_wrk()
    print(f"building {MODEL_DIR.relative_to(ROOT)} ...", flush=True)
    image = build_image()
    settings = {
        "unbatched": {},
        "batched": {"BATCH_MAX_SIZE": str(MAX_BATCH_SIZE), "BATCH_MAX_WAIT_MS": str(MAX_WAIT_MS)},
    }
    replicas: dict[str, tuple[str, str]] = {}
    try:
        for row in ROWS:
            replicas[row] = start_replica(image, row, settings[row])
        for row in ROWS:
            url = replicas[row][1] + "/predict"
            # Warm-up: first calls page in numpy and fill CPU caches.
            run_wrk(wrk, url, BODY, None, 8, 2)
        cells: dict[str, dict[int, list[dict]]] = {row: {c: [] for c in conns} for row in ROWS}
        for c in conns:
            for round_ in range(args.rounds):
                for row in ROWS if round_ % 2 == 0 else reversed(ROWS):
                    base = replicas[row][1]
                    before = httpx.get(base + "/healthz", timeout=5).json()
                    result = run_wrk(wrk, base + "/predict", BODY, None, c, args.seconds)
                    result["batch"] = average_batch(base, before)
                    cells[row][c].append(result)
                    print(
                        f"  {c:>3} conns, {row:<9} round {round_ + 1}: {result['rps']:8.1f} rps, "
                        f"p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, "
                        f"avg batch {result['batch']:.1f}, non-2xx {result['errors']}",
                        flush=True,
                    )
        report(cells, conns, args)
    finally:
        for container_id, _ in replicas.values():
            engine.stop_and_remove(URL, container_id, timeout=2)
    return 0


def report(cells: dict[str, dict[int, list[dict]]], conns: list[int], args) -> None:
    def median(row: str, c: int, key: str) -> float:
        return statistics.median(r[key] for r in cells[row][c])

    print(
        f"\nmatmul model, 1 core per replica, batched = max_batch_size {MAX_BATCH_SIZE}, "
        f"max_wait_ms {MAX_WAIT_MS:g}; median of {args.rounds} rounds of {args.seconds} s\n"
    )
    print(
        f"{'conns':>5} | {'unbatched rps':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'batched rps':>11} {'p50 ms':>7} {'p99 ms':>7} {'avg batch':>9} | {'ratio':>6}"
    )
    for c in conns:
        u_rps, b_rps = median("unbatched", c, "rps"), median("batched", c, "rps")
        print(
            f"{c:>5} | {u_rps:>13.1f} {median('unbatched', c, 'p50'):>7.2f} "
            f"{median('unbatched', c, 'p99'):>7.2f} | {b_rps:>11.1f} "
            f"{median('batched', c, 'p50'):>7.2f} {median('batched', c, 'p99'):>7.2f} "
            f"{median('batched', c, 'batch'):>9.1f} | {b_rps / u_rps:>5.2f}x"
        )
    errors = sum(r["errors"] for row in ROWS for c in conns for r in cells[row][c])
    print(f"\nnon-2xx responses: {errors}")
    top, low = max(conns), min(conns)
    ratio = median("batched", top, "rps") / median("unbatched", top, "rps")
    p50_gap = median("batched", low, "p50") - median("unbatched", low, "p50")
    print(
        f"goal at {top} connections, >= 5x: {ratio:.2f}x "
        f"({'met' if ratio >= 5 else 'NOT met'}); "
        f"p50 at {low} connection(s) vs unbatched: +{p50_gap:.2f} ms, allowed "
        f"+{MAX_WAIT_MS + 1:g} ms ({'met' if p50_gap <= MAX_WAIT_MS + 1 else 'NOT met'})"
    )


if __name__ == "__main__":
    sys.exit(main())
