"""Benchmark: how soon a killed replica is replaced, with and without the events watcher.

Run: .venv/bin/python bench/reaction.py [--kills 3]  (needs a Docker engine)

It starts the product exactly as `make run` does (bench/soak.py's Product) in a throwaway
state folder, deploys examples/noop with one replica on the local engine, then `docker
kill`s the replica's container and times, from the kill, until another replica of the
deployment answers ready in the management API. It does so with the engine-events
watcher running (`[program:events]`) and then, as the baseline, with it stopped, when only
the periodic reconcile (`RECONCILE_INTERVAL`, 15 s) notices. Goal (issue 14): <= 3 s.
Each victim has served 32 s first, so none counts as a crash loop (those back off).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import ROOT, Api, Product  # noqa: E402

ENGINE = os.environ.get("DOCKER_URL", "unix:///var/run/docker.sock")
# Each victim first serves longer than reconcile.CRASH_LOOP_SECONDS (30): a replica killed
# sooner counts as crash-looping and its replacement is delayed by design.
SERVE_BEFORE_KILL = 32.0


def _ready_ids(api: Api, ident: str) -> set[int]:
    data = api.deployment(ident) or {}
    return {r["id"] for r in data.get("replicas", []) if r["state"] == "ready"}


def kill_and_time(api: Api, engine: docker.DockerClient, instance: str, ident: str) -> float:
    """Kill the deployment's one ready replica; seconds until another is ready."""
    api.wait_ready(ident, 1)
    time.sleep(SERVE_BEFORE_KILL)
    before = api.wait_ready(ident, 1)
    victim = next(r["id"] for r in before["replicas"] if r["state"] == "ready")
    containers = engine.containers.list(
        filters={"label": [f"orchestration.instance={instance}", f"orchestration.replica={victim}"]}
    )
    killed_at = time.monotonic()
    for container in containers:
        container.kill()
    while time.monotonic() - killed_at < 120:
        if _ready_ids(api, ident) - {victim}:
            return time.monotonic() - killed_at
        time.sleep(0.05)
    raise RuntimeError(f"replica {victim} of {ident} was not replaced within 120 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="orchestration-reaction-"))
    product = Product(var_dir, env={"LOG_LEVEL": "WARNING"})
    engine = docker.DockerClient(base_url=ENGINE)
    rows: dict[str, list[float]] = {}
    finished = False
    try:
        print(f"[bench] starting the product (state in {var_dir})", flush=True)
        product.start()
        api = Api(product, product.issue_key())
        api.cli("model", "upload", str(ROOT / "examples" / "noop"))
        api.cli("cluster", "create", "bench", "--cloud-provider", "local", "--region", "local")
        api.cli("nodepool", "create", "bench", "cpu", "--cpu", "2", "--memory", "2Gi")
        api.cli(
            "node", "add", "bench", "cpu", "local", "--engine-url", ENGINE,
            "--address", "127.0.0.1",
        )  # fmt: skip
        api.deploy("react", "noop", "bench", "cpu", min_replicas=1, max_replicas=1)
        api.wait_ready("react", 1)
        time.sleep(2)  # the watcher lists nodes every 10 s: let it subscribe to this one
        name = "events watcher (die -> reconcile)"
        rows[name] = [
            kill_and_time(api, engine, product.instance, "react") for _ in range(args.kills)
        ]
        print(f"[bench] {name} done", flush=True)
        product.supervisorctl("stop", "events")
        name = "periodic reconcile only"
        rows[name] = [
            kill_and_time(api, engine, product.instance, "react") for _ in range(args.kills)
        ]
        print(f"[bench] {name} done", flush=True)
        finished = True
    finally:
        product.stop()
        if finished:
            subprocess.run(["rm", "-rf", str(var_dir)], check=False)
        else:
            print(f"[bench] the product's state and logs stay in {var_dir}", flush=True)

    day = time.strftime("%Y-%m-%d")
    print(
        f"\nreaction benchmark, {day}, {os.cpu_count()} cores: kill -> replacement ready, seconds"
    )
    print(f"{'row':38} | {'median':>7} | {'max':>7} | each")
    for name, times in rows.items():
        each = " ".join(f"{t:.2f}" for t in times)
        print(f"{name:38} | {statistics.median(times):>7.2f} | {max(times):>7.2f} | {each}")
    watcher, baseline = (statistics.median(times) for times in rows.values())
    print(f"watcher / periodic (median): {watcher / baseline:.2f}x; goal <= 3 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
