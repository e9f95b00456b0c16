"""Benchmark: how soon the product reacts: a load step, and a killed replica.

Run: .venv/bin/python bench/reaction.py [--kills 3] [--steps 3]  (needs a Docker engine)

It starts the product exactly as `make run` does (bench/soak.py's Product) in a throwaway
state folder, deploys examples/noop with one replica on the local engine, then `docker
kill`s the replica's container and times, from the kill, until another replica of the
deployment answers ready in the management API. It does so with the engine-events
watcher running (`[program:events]`) and then, as the baseline, with it stopped, when only
the periodic reconcile (`RECONCILE_INTERVAL`, 15 s) notices. Goal (issue 14): <= 3 s.
Each victim has served 32 s first, so none counts as a crash loop (those back off).

Load step: a deployment of a model that takes 50 ms per call (min 1, max 2 replicas,
target 4 in flight, scale-up delay STEP_DELAY s, traffic history 5 s) gets 16 clients at
once. It times, from the first request: when the traffic received could first have made
the policy want a second replica (the written traffic rows replayed pro rata over their
intervals through the autoscaler's own bucketing and policy, as if each had been in the
database at once), when it did want it (after the early traffic row and the tick it
kicks), when it scaled up (the delay, then the tick queued for its end), and when the
second replica was ready. Goal: ready <= could + delay + 3 s.

Cold start: a deployment of examples/noop at zero replicas (min 0; it goes back to zero
5 s after each answer) gets one predict request through the router, timed until its
answer; beside it, in turn, the baseline: the same image started bare with the docker SDK
(`containers.run`, no limits, no labels) and polled every 10 ms at its container address
until /healthz answers ready. Goal: the cold answer <= 1.3x the bare start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import ROOT, Api, Product  # noqa: E402

ENGINE = os.environ.get("DOCKER_URL", "unix:///var/run/docker.sock")
# Each victim first serves longer than reconcile.CRASH_LOOP_SECONDS (30): a replica killed
# sooner counts as crash-looping and its replacement is delayed by design.
SERVE_BEFORE_KILL = 32.0
STEP_DELAY = 10
STEP_CLIENTS = 16
# When, after `started`, the policy would first have wanted 2 had every row been in the
# database as its traffic happened (the traffic rows replayed, each pro rata over its
# interval, through the autoscaler's own bucketing and policy), and when it did: wanted
# 2, scaled to 2, had a second replica ready.
MARKS = """
import json, math
from datetime import UTC, datetime
from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end
from orchestration.autoscaling.policy import summarize, traffic_lookback_seconds
from orchestration.deployments.autoscale import bucketed, settings_of
from orchestration.deployments.models import Deployment
d = Deployment.objects.get(slug={slug!r})
after = datetime.fromtimestamp({started}, UTC)
config = settings_of(d)
rows = [
    (r.at.timestamp(), r.interval_seconds, r.in_flight) for r in d.traffic.filter(at__gte=after)
]
could = None
for step in range(3000):
    t = {started} + step * 0.01
    weights = {{}}
    for end, interval, in_flight in rows:
        begin = end - interval
        if begin < t:
            seen = min(end, t) - begin
            key = bucket_end(min(end, t))
            weights[key] = weights.get(key, 0.0) + in_flight * seen / BUCKET_SECONDS
    start = max(d.created_at.timestamp(), t - traffic_lookback_seconds(config))
    points = bucketed([(k, w, 1) for k, w in weights.items()], start=start, now=t,
                      dense_from=t - float(config.traffic_history_seconds) - BUCKET_SECONDS)
    average = summarize(config, t, points).average_in_flight
    if math.ceil(average / config.target_concurrency) > 1:
        could = t
        break
want = d.decisions.filter(at__gte=after, wanted__gt=1).order_by("at").first()
up = d.decisions.filter(at__gte=after, applied__gt=1).order_by("at").first()
ready = d.replicas.filter(ready_at__gte=after).order_by("ready_at").first()
print(json.dumps([could, want.at.timestamp(), up.at.timestamp(), ready.ready_at.timestamp()]))
"""
SLOW_MODEL = """import time


class SlowModel:
    def predict(self, inputs):
        time.sleep(0.05)
        return [{"text": {"raw": (d.get("text") or {}).get("raw", "")}} for d in inputs]
"""


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


def load_step(api: Api, product: Product, ident: str) -> dict[str, float]:
    """16 clients at once on a new, quiet one-replica deployment; the reaction's times."""
    api.deploy(
        ident, "slow", "bench", "cpu", min_replicas=1, max_replicas=2, target_concurrency=4,
        scale_up_delay_seconds=STEP_DELAY, traffic_history_seconds=5,
        scale_down_delay_seconds=1800,
    )  # fmt: skip
    api.wait_ready(ident, 1)
    time.sleep(3)
    url = f"{product.url}/v2/users/me/deployments/{ident}/outputs"
    body = {"inputs": [{"data": {"text": {"raw": "step"}}}]}
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30, headers={"Authorization": f"Key {api.key}"}) as http:
            while not stop.is_set():
                http.post(url, json=body)

    started = time.time()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(STEP_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        api.wait_ready(ident, 2, timeout=120)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    marks = json.loads(product.django(MARKS.format(slug=ident, started=started)).splitlines()[-1])
    could, want, up, ready = (mark - started for mark in marks)
    api.delete_and_wait(ident)
    return {"could": could, "want": want, "up": up, "ready": ready}


def _container_address(container) -> str:
    container.reload()
    network = container.attrs.get("NetworkSettings") or {}
    if network.get("IPAddress"):
        return network["IPAddress"]
    for attached in (network.get("Networks") or {}).values():
        if attached.get("IPAddress"):
            return attached["IPAddress"]
    return ""


def bare_start(engine: docker.DockerClient, image: str) -> float:
    """Seconds from `containers.run` of the image to its first ready /healthz answer."""
    started = time.monotonic()
    container = engine.containers.run(image, detach=True, ports={"8080/tcp": None})
    try:
        address = ""
        with httpx.Client(timeout=0.5) as http:
            while time.monotonic() - started < 60:
                address = address or _container_address(container)
                if address:
                    try:
                        if http.get(f"http://{address}:8080/healthz").status_code == 200:
                            return time.monotonic() - started
                    except httpx.HTTPError:
                        pass
                time.sleep(0.01)
        raise RuntimeError(f"a bare {image} did not answer /healthz within 60 s")
    finally:
        container.remove(force=True)


def wait_at_zero(api: Api, engine: docker.DockerClient, product: Product, ident: str) -> None:
    """Until the deployment has no replica and no container left."""
    pk = product.django(
        "from orchestration.deployments.models import Deployment;"
        f"print(Deployment.objects.get(slug={ident!r}).pk)"
    ).splitlines()[-1]
    labels = [f"orchestration.instance={product.instance}", f"orchestration.deployment={pk}"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        data = api.deployment(ident) or {}
        active = [r for r in data.get("replicas", []) if r["state"] not in ("stopped", "failed")]
        if (
            data.get("desired_replicas") == 0
            and not active
            and not engine.containers.list(all=True, filters={"label": labels})
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"deployment {ident} did not scale to zero within 120 s")


def cold_start(api: Api, product: Product, engine: docker.DockerClient, ident: str) -> float:
    """Seconds from a request to a scaled-to-zero deployment to its answer."""
    wait_at_zero(api, engine, product, ident)
    time.sleep(1)
    url = f"{product.url}/v2/users/me/deployments/{ident}/outputs"
    body = {"inputs": [{"data": {"text": {"raw": "cold"}}}]}
    # The client made before the clock starts, as the bare row's is: building one (its
    # TLS context) costs tens of milliseconds of the client's own.
    with httpx.Client(timeout=90, headers={"Authorization": f"Key {api.key}"}) as http:
        started = time.monotonic()
        answer = http.post(url, json=body)
        took = time.monotonic() - started
    if answer.status_code != 200:
        raise RuntimeError(f"cold start of {ident}: HTTP {answer.status_code} {answer.text[:300]}")
    return took


def print_times(rows: dict[str, list[float]]) -> None:
    """A table of timed rows: median, max and each run, in seconds."""
    print(f"{'row':38} | {'median':>7} | {'max':>7} | each")
    for name, times in rows.items():
        each = " ".join(f"{t:.2f}" for t in times)
        print(f"{name:38} | {statistics.median(times):>7.2f} | {max(times):>7.2f} | {each}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--colds", type=int, default=5)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="orchestration-reaction-"))
    product = Product(var_dir, env={"LOG_LEVEL": "WARNING"})
    engine = docker.DockerClient(base_url=ENGINE)
    rows: dict[str, list[float]] = {}
    steps: list[dict[str, float]] = []
    colds: dict[str, list[float]] = {
        "bare containers.run -> /healthz ready": [],
        "cold request -> answer (router)": [],
    }
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
        slow = var_dir / "slow"
        shutil.copytree(ROOT / "examples" / "noop", slow)
        (slow / "1" / "model.py").write_text(SLOW_MODEL)
        config = slow / "config.yaml"
        config.write_text(config.read_text().replace("id: noop", "id: slow"))
        api.cli("model", "upload", str(slow))
        steps = [load_step(api, product, "step") for _ in range(args.steps)]
        print("[bench] load steps done", flush=True)
        if args.colds:
            api.deploy(
                "cold", "noop", "bench", "cpu", min_replicas=0, max_replicas=1,
                scale_down_delay_seconds=0, scale_to_zero_delay_seconds=5,
                traffic_history_seconds=5,
            )  # fmt: skip
            image = product.django(
                "from orchestration.catalog.models import ModelVersion;"
                "print(ModelVersion.objects.filter(model__slug='noop').latest('pk').image)"
            ).splitlines()[-1]
            bare_start(engine, image)  # the image's layers in the page cache, as for ours
            for _ in range(args.colds):
                colds["bare containers.run -> /healthz ready"].append(bare_start(engine, image))
                colds["cold request -> answer (router)"].append(
                    cold_start(api, product, engine, "cold")
                )
            api.delete_and_wait("cold")
            print("[bench] cold starts done", flush=True)
        api.deploy("react", "noop", "bench", "cpu", min_replicas=1, max_replicas=1)
        api.wait_ready("react", 1)
        time.sleep(2)  # the watcher lists nodes every 10 s: let it subscribe to this one
        name = "events watcher (die -> reconcile)"
        rows[name] = [
            kill_and_time(api, engine, product.instance, "react") for _ in range(args.kills)
        ]
        print(f"[bench] {name} done", flush=True)
        if args.kills:
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
    print(f"\nreaction benchmark, {day}, {os.cpu_count()} cores")
    if all(rows.values()):
        print("kill -> replacement ready, seconds")
        print_times(rows)
        watcher, baseline = (statistics.median(times) for times in rows.values())
        print(f"watcher / periodic (median): {watcher / baseline:.2f}x; goal <= 3 s")
    print(
        f"\nload step, {STEP_CLIENTS} clients at once on 1 replica (scale-up delay "
        f"{STEP_DELAY} s, history 5 s, target 4): seconds from the first request"
    )
    print(
        f"{'step':6} | {'could want 2':>12} | {'wanted 2':>8} | {'scaled up':>9} | "
        f"{'2nd ready':>9} | ready - (could + delay)"
    )
    for number, step in enumerate(steps, 1):
        print(
            f"{number:<6} | {step['could']:>12.2f} | {step['want']:>8.2f} | {step['up']:>9.2f} | "
            f"{step['ready']:>9.2f} | {step['ready'] - step['could'] - STEP_DELAY:.2f}"
        )
    if steps:
        worst = max(step["ready"] - step["could"] - STEP_DELAY for step in steps)
        print(
            f"worst: the 2nd replica ready {worst:.2f} s after the delay ended, counted from "
            "when the traffic received could first make the policy want it; goal <= 3 s"
        )
    if colds["bare containers.run -> /healthz ready"]:
        print("\ncold start of examples/noop, interleaved rounds: seconds")
        print_times(colds)
        bare, cold = (statistics.median(times) for times in colds.values())
        print(f"cold / bare (median): {cold / bare:.2f}x; goal <= 1.3x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
