"""Soak: start the product exactly as `make run` does and drive mixed use for N minutes.

Run: .venv/bin/python bench/soak.py --minutes 30  (needs a Docker engine; the run command
builds the base image when it is missing). The product runs on its embedded default
(SQLite and the run command's own broker) in a throwaway state folder on a free port.

What it does while the clock runs:
- steady load at high concurrency on a two-replica deployment (`steady`): every failure
  there counts;
- a second two-replica deployment (`chaos`) under light load whose replica containers are
  killed from time to time: failures there are the killed-replica retries, counted apart;
- bursts on an autoscaling deployment (`auto`, 1..3 replicas) so it scales up and down;
- deploy and delete cycles of another model, and uploads of the example models.

It ends with one line: minutes, requests, failed requests, process restarts, worker
crashes (plus the killed-replica figures). The exit status is 0 only when no request to
`steady` failed and no process of the product had to be restarted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import docker
import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
# Settings of the caller's own environment that would take the product off its defaults.
NOT_INHERITED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "ORCHESTRATION_INSTANCE",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_SETTINGS_MODULE",
    "PYTEST_CURRENT_TEST",
)
# Short beat intervals make the broker carry many messages per second.
FAST_INTERVALS = {
    "NODE_PROBE_INTERVAL": "2",
    "RECONCILE_INTERVAL": "2",
    "AUTOSCALE_INTERVAL": "1",
    "TRAFFIC_FLUSH_SECONDS": "1",
}
BODY = {"inputs": [{"data": {"text": {"raw": "what a lovely day"}}}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Product:
    """The run command, started as a user starts it, in its own state folder."""

    def __init__(self, var_dir: Path, *, port: int | None = None, env: dict | None = None):
        self.var_dir = Path(var_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = f"soak-{os.getpid()}-{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        self.env.update(
            {
                "ORCHESTRATION_VAR_DIR": str(self.var_dir),
                "PORT": str(self.port),
                "GRPC_PORT": str(free_port()),
                "ADMIN_USERNAME": "soak",
                "ADMIN_PASSWORD": "soak-pass-123",
                "ORCHESTRATION_INSTANCE": self.instance,
                "RUN_VAR": str(self.var_dir),
                # One key far past a user's rate: the limits have tests of their own.
                "PREDICT_RATE_LIMIT": "0",
            }
        )
        self.env.update(env or {})
        self.log_path = self.var_dir / "run.log"
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 600) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it for its life
        # Its own session: Ctrl-C is then a SIGINT to this group, as a terminal sends it.
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the run command exited ({self.proc.returncode}):\n{self.tail()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the portal did not answer within {timeout}s:\n{self.tail()}")

    def interrupt(self, timeout: float = 120) -> int:
        """Ctrl-C: SIGINT to the run command's process group; wait for it to end."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise

    def stop(self) -> None:
        """Stop the run command if it runs, then remove every container of this install."""
        if self.proc is not None and self.proc.poll() is None:
            self.interrupt()
        engine = docker.from_env()
        try:
            for container in engine.containers.list(
                all=True, filters={"label": f"orchestration.instance={self.instance}"}
            ):
                container.remove(force=True)
        finally:
            engine.close()

    def leftover_processes(self) -> list[str]:
        """Processes still running with this product's state folder in their environment."""
        marker = f"ORCHESTRATION_VAR_DIR={self.var_dir}".encode()
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    left.append(f"{entry.name} {cmd.strip()}")
            except OSError:
                continue
        return left

    # -- inspection --------------------------------------------------------------------
    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def supervisor_log(self) -> str:
        path = self.var_dir / "log" / "supervisord.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def exits(self) -> dict[str, int]:
        """How often each process exited while it should have been running."""
        counts: dict[str, int] = {}
        for name in re.findall(r"WARN exited: (\w+) ", self.supervisor_log()):
            counts[name] = counts.get(name, 0) + 1
        return counts

    def worker_crashes(self) -> int:
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return max(self.exits().get("worker", 0), log.count("Unrecoverable error"))

    def supervisorctl(self, *args: str) -> str:
        result = subprocess.run(
            [str(ROOT / ".venv/bin/supervisorctl"), "-c", "scripts/supervisord.conf", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip()

    def django(self, code: str) -> str:
        """Run Python inside the product's Django (its database), return what it prints."""
        result = subprocess.run(
            [str(VENV_PY), "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    def issue_key(self) -> str:
        return self.django(
            "from django.contrib.auth import get_user_model\n"
            "from orchestration.accounts.models import AccessToken\n"
            "u = get_user_model().objects.get(username='soak')\n"
            "print(AccessToken.issue(u, 'soak')[1])"
        ).splitlines()[-1]


class Api:
    """What a user's script does: the CLI for set-up, the management API to watch."""

    def __init__(self, product: Product, key: str):
        self.product = product
        self.key = key
        self.http = httpx.Client(
            base_url=f"{product.url}/api/v1/",
            headers={"Authorization": f"Key {key}"},
            timeout=30,
        )

    def cli(self, *args: str, timeout: float = 600) -> str:
        env = {**self.product.env, "ORCHESTRATE_URL": self.product.url, "ORCHESTRATE_KEY": self.key}
        result = subprocess.run(
            [str(VENV_PY), "-m", "orchestration.cli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"orchestrate {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def deployment(self, ident: str) -> dict | None:
        response = self.http.get(f"deployments/{ident}/")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def wait_ready(self, ident: str, replicas: int, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.deployment(ident)
            if data and data["status"] == "running" and data["ready_replicas"] >= replicas:
                return data
            time.sleep(0.5)
        raise RuntimeError(f"deployment {ident} not ready with {replicas}: {data}")

    def delete_and_wait(self, ident: str, timeout: float = 180) -> None:
        self.http.delete(f"deployments/{ident}/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deployment(ident) is None:
                return
            time.sleep(0.5)
        raise RuntimeError(f"deployment {ident} was not deleted within {timeout}s")

    def deploy(self, ident: str, model: str, cluster: str, nodepool: str, **autoscale) -> None:
        flags = []
        for name, value in autoscale.items():
            flags += [f"--{name.replace('_', '-')}", str(value)]
        self.cli(
            "deployment", "create", ident, "--model", model,
            "--cluster", cluster, "--nodepool", nodepool, *flags,
        )  # fmt: skip


@dataclass
class Tally:
    requests: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, ok: bool, why: str = "") -> None:
        self.requests += 1
        if not ok:
            self.failed += 1
            self.errors[why] = self.errors.get(why, 0) + 1


@dataclass
class Result:
    minutes: float
    steady: Tally
    chaos: Tally
    auto: Tally
    cycles: int
    uploads: int
    kills: int
    exits: dict[str, int]
    worker_crashes: int
    max_auto_replicas: int
    min_auto_replicas_after_peak: int

    @property
    def requests(self) -> int:
        return self.steady.requests + self.chaos.requests + self.auto.requests

    @property
    def failed(self) -> int:
        """Failed requests outside the killed-replica deployment."""
        return self.steady.failed + self.auto.failed

    @property
    def restarts(self) -> int:
        return sum(self.exits.values())

    def line(self) -> str:
        return (
            f"soak: {self.minutes:.1f} minutes, {self.requests} requests, {self.failed} failed "
            f"requests, {self.restarts} process restarts, {self.worker_crashes} worker crashes "
            f"(killed replicas: {self.kills}, {self.chaos.failed} of {self.chaos.requests} "
            f"requests to them failed; {self.cycles} deploy/delete cycles, {self.uploads} "
            f"uploads, autoscaled 1 -> {self.max_auto_replicas} -> "
            f"{self.min_auto_replicas_after_peak})"
        )


async def _load(url: str, key: str, deployment: str, model: str, tally: Tally, *,
                concurrency, stop: threading.Event) -> None:  # fmt: skip
    """Keep `concurrency()` requests in flight on one deployment until `stop` is set."""
    body = json.dumps({**BODY, "runner_selector": {"deployment": {"id": deployment}}})
    headers = {"Authorization": f"Key {key}", "Content-Type": "application/json"}
    target = f"{url}/v2/models/{model}/outputs"
    timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one_worker(index: int) -> None:
            while not stop.is_set():
                if index >= concurrency():
                    await asyncio.sleep(0.2)
                    continue
                try:
                    async with session.post(target, data=body, headers=headers) as response:
                        payload = await response.json(content_type=None)
                        code = payload.get("status", {}).get("code")
                        ok = response.status == 200 and code == 10000
                        tally.add(ok, f"{response.status}/{code}")
                except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                    tally.add(False, type(err).__name__)

        await asyncio.gather(*(one_worker(i) for i in range(32)))


def run_soak(product: Product, minutes: float, *, concurrency: int = 16,
             kill_every: float = 45.0, log=print) -> Result:  # fmt: skip
    """Set up the deployments, then drive mixed use for `minutes`; the product keeps running."""
    key = product.issue_key()
    api = Api(product, key)
    log("[soak] uploading the example models")
    for name in ("noop", "sentiment"):
        api.cli("model", "upload", str(ROOT / "examples" / name))
    api.cli("cluster", "create", "soak", "--cloud-provider", "local", "--region", "local")
    api.cli("nodepool", "create", "soak", "cpu", "--cpu", "4", "--memory", "4Gi")
    api.cli(
        "node", "add", "soak", "cpu", "local",
        "--engine-url", os.environ.get("DOCKER_URL", "unix:///var/run/docker.sock"),
        "--address", "127.0.0.1",
    )  # fmt: skip
    api.deploy("steady", "noop", "shared", "shared", min_replicas=2, max_replicas=2)
    api.deploy("chaos", "noop", "soak", "cpu", min_replicas=2, max_replicas=2)
    api.deploy(
        "auto", "sentiment", "soak", "cpu", min_replicas=1, max_replicas=3,
        target_concurrency=1, scale_up_delay=3, scale_down_delay=8, traffic_history=6,
    )  # fmt: skip
    for ident, count in (("steady", 2), ("chaos", 2), ("auto", 1)):
        api.wait_ready(ident, count)
    log(f"[soak] deployments ready; driving mixed use for {minutes} minutes")

    steady, chaos, auto = Tally(), Tally(), Tally()
    stop = threading.Event()
    burst = {"on": False}
    loads = [
        ("steady", "noop", steady, lambda: concurrency),
        ("chaos", "noop", chaos, lambda: 2),
        ("auto", "sentiment", auto, lambda: 6 if burst["on"] else 0),
    ]
    threads = [
        threading.Thread(
            target=lambda d=d, m=m, t=t, c=c: asyncio.run(
                _load(product.url, key, d, m, t, concurrency=c, stop=stop)
            ),
            daemon=True,
        )
        for d, m, t, c in loads
    ]
    for thread in threads:
        thread.start()

    engine = docker.DockerClient(
        base_url=os.environ.get("DOCKER_URL", "unix:///var/run/docker.sock")
    )
    started = time.monotonic()
    end = started + minutes * 60
    next_kill = started + kill_every / 2
    next_upload = started + 20
    phase_started, max_auto, min_after_peak = started, 1, 99
    cycles = uploads = kills = 0
    cycle_state = {"thread": None}

    def cycle() -> None:
        nonlocal cycles
        api.deploy("cycle", "sentiment", "shared", "shared", min_replicas=1, max_replicas=1)
        api.wait_ready("cycle", 1)
        api.delete_and_wait("cycle")
        cycles += 1

    try:
        while time.monotonic() < end:
            now = time.monotonic()
            # Bursts on `auto`: 40 s of load, 40 s of quiet; it follows up, then down.
            if now - phase_started > 40:
                burst["on"] = not burst["on"]
                phase_started = now
            data = api.deployment("auto")
            if data:
                ready = data["ready_replicas"]
                max_auto = max(max_auto, ready)
                if max_auto > 1:
                    min_after_peak = min(min_after_peak, ready)
            if now >= next_kill:
                next_kill = now + kill_every
                ready_ids = [
                    r["id"] for r in (api.deployment("chaos") or {}).get("replicas", [])
                    if r["state"] == "ready"
                ]  # fmt: skip
                if len(ready_ids) == 2:  # kill only a healthy pair, so one always serves
                    victim = random.choice(ready_ids)
                    for container in engine.containers.list(
                        filters={
                            "label": [
                                f"orchestration.instance={product.instance}",
                                f"orchestration.replica={victim}",
                            ]
                        }
                    ):
                        container.kill()
                        kills += 1
            if now >= next_upload:
                next_upload = now + 60
                api.cli("model", "upload", str(ROOT / "examples" / "noop"))
                uploads += 1
            worker = cycle_state["thread"]
            if worker is None or not worker.is_alive():
                cycle_state["thread"] = threading.Thread(target=cycle, daemon=True)
                cycle_state["thread"].start()
            time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        if cycle_state["thread"] is not None:
            cycle_state["thread"].join(timeout=300)
        engine.close()

    return Result(
        minutes=(time.monotonic() - started) / 60,
        steady=steady,
        chaos=chaos,
        auto=auto,
        cycles=cycles,
        uploads=uploads,
        kills=kills,
        exits=product.exits(),
        worker_crashes=product.worker_crashes(),
        max_auto_replicas=max_auto,
        min_auto_replicas_after_peak=min_after_peak if max_auto > 1 else max_auto,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--fast-intervals",
        action="store_true",
        help="shorten beat's intervals so the broker carries many messages per second",
    )
    parser.add_argument(
        "--broker-url",
        default="",
        help="run on this CELERY_BROKER_URL instead of the embedded default (to compare)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the state folder")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="orchestration-soak-"))
    env = dict(FAST_INTERVALS) if args.fast_intervals else {}
    if args.broker_url:
        env["CELERY_BROKER_URL"] = args.broker_url
    product = Product(var_dir, env=env)
    print(f"[soak] starting the run command on {product.url} (state in {var_dir})", flush=True)
    product.start()
    try:
        result = run_soak(product, args.minutes, concurrency=args.concurrency)
    finally:
        code = product.interrupt()
        left = product.leftover_processes()
        print(f"[soak] run command stopped ({code}); processes left: {left or 'none'}")
        product.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(var_dir)], check=False)
    for name, tally in (("steady", result.steady), ("chaos", result.chaos), ("auto", result.auto)):
        print(f"[soak] {name}: {tally.requests} requests, {tally.failed} failed {tally.errors}")
    print(result.line())
    return 0 if result.failed == 0 and result.restarts == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
