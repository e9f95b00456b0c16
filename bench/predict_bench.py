"""Benchmark: predictions through the routed API vs straight to the replica, in one run.

Run: .venv/bin/python bench/predict_bench.py  (needs a Docker engine and the base image:
scripts/build-base-image). It makes a throwaway state folder (SQLite, file broker),
deploys examples/noop on the local engine with one replica, starts a Celery worker and
uvicorn, then at each concurrency level sends the same requests both ways and prints
throughput, p50/p99 latency and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = tempfile.mkdtemp(prefix="orchestration-bench-")
os.environ.update(
    {
        "ORCHESTRATION_VAR_DIR": STATE,
        "DATABASE_URL": f"sqlite:///{STATE}/db.sqlite3",
        "CELERY_BROKER_URL": "filesystem://",
        "DJANGO_SETTINGS_MODULE": "orchestration.settings",
    }
)
os.environ.pop("REDIS_URL", None)
sys.path.insert(0, str(ROOT))

from orchestration.var_dir import prepare  # noqa: E402

prepare(Path(STATE))

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from orchestration import docker_engine  # noqa: E402
from orchestration.accounts.models import AccessToken  # noqa: E402
from orchestration.catalog.ingest import ingest_upload  # noqa: E402
from orchestration.catalog.tasks import build_model_version  # noqa: E402
from orchestration.deployments.models import Deployment, Replica  # noqa: E402
from orchestration.deployments.tasks import container_labels, reconcile_deployment  # noqa: E402
from orchestration.nodepools.shared import ensure_shared_compute  # noqa: E402


async def load(url: str, body: dict, headers: dict, concurrency: int, total: int):
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(min(20, total)):  # warm the connections
            await client.post(url, json=body, headers=headers)
        queue = iter(range(total))

        async def worker():
            nonlocal errors
            for _ in queue:
                start = time.perf_counter()
                response = await client.post(url, json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,4,16,32")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    pool = ensure_shared_compute()
    pool.nodes.update(status="ready")
    user = get_user_model().objects.create_user("bench")
    key = AccessToken.issue(user, "bench")[1]
    version = ingest_upload(owner=user, source=ROOT / "examples" / "noop")
    build_model_version.apply(args=(version.pk,))
    version.refresh_from_db()
    assert version.build_status == "ready", version.build_log[-2000:]
    deployment = Deployment.objects.create(
        owner=user,
        slug="bench",
        model=version.model,
        model_version=version,
        nodepool=pool,
        min_replicas=1,
        max_replicas=1,
        desired_replicas=1,
    )
    env = dict(os.environ)
    port = 8765
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "orchestration",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "orchestration.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    try:
        reconcile_deployment.delay(deployment.pk)
        deadline = time.monotonic() + 120
        while not Replica.objects.filter(deployment=deployment, state="ready").exists():
            if time.monotonic() > deadline:
                raise SystemExit("the replica did not become ready")
            time.sleep(0.5)
        replica = Replica.objects.get(deployment=deployment, state="ready")
        data = {"text": {"raw": "ping"}}
        routed_url = f"http://127.0.0.1:{port}/v2/models/{version.model.slug}/outputs"
        routed_body = {
            "inputs": [{"data": data}],
            "runner_selector": {"deployment": {"id": "bench"}},
        }
        direct_url = f"http://{replica.address}/predict"
        print(f"routed: {routed_url}\ndirect: {direct_url}\n")
        print(
            f"{'conc':>4} | {'routed rps':>10} {'p50 ms':>7} {'p99 ms':>7} | "
            f"{'direct rps':>10} {'p50 ms':>7} {'p99 ms':>7} | {'rps ratio':>9} {'+p50 ms':>7}"
        )
        for level in [int(x) for x in args.levels.split(",")]:
            routed = asyncio.run(
                load(routed_url, routed_body, {"Authorization": f"Key {key}"}, level, args.requests)
            )
            direct = asyncio.run(load(direct_url, {"inputs": [data]}, {}, level, args.requests))
            r = routed
            print(
                f"{level:>4} | {r['rps']:>10.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} | "
                f"{direct['rps']:>10.0f} {direct['p50']:>7.2f} {direct['p99']:>7.2f} | "
                f"{routed['rps'] / direct['rps']:>9.2f} {routed['p50'] - direct['p50']:>7.2f}"
                + (
                    f"  errors: {routed['errors']}+{direct['errors']}"
                    if routed["errors"] or direct["errors"]
                    else ""
                )
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        for c in docker_engine.list_containers(
            "unix:///var/run/docker.sock", labels=container_labels(deployment.pk)
        ):
            docker_engine.stop_and_remove("unix:///var/run/docker.sock", c.id, timeout=1)


if __name__ == "__main__":
    main()
