"""A no-op Ray Serve deployment behind Serve's HTTP proxy, for bench/predict_wrk.py.

Run with the python of a virtualenv where ray[serve] imports (it imports only the standard
library and ray, nothing of this project):

    $RAY_VENV/bin/python bench/ray_serve_app.py PORT

It starts a local Ray (2 CPUs, no dashboard, its files in a throwaway temp folder), Serve's
HTTP proxy on 127.0.0.1:PORT, and one replica of one CPU at route prefix `/` answering
`{"inputs": [{"data": {"text": {"raw": T}}}]}` with `{"outputs": [{"data": {"text":
{"raw": T}}}]}`, the same echo as the bench's bare server. It prints `ready` once the
route answers, then runs until SIGTERM or SIGINT, and shuts Serve and Ray down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

# Before ray is imported: no usage report, no log deduplication notes, and token
# authentication (Ray's ports listen on all interfaces) with a token of this run only, as
# otherwise Ray writes one to ~/.ray/auth_token.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

import ray  # noqa: E402
from ray import serve  # noqa: E402

BODY = {"inputs": [{"data": {"text": {"raw": "hello world"}}}]}


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
class Echo:
    async def __call__(self, request) -> dict:
        text = json.loads(await request.body())["inputs"][0]["data"]["text"]["raw"]
        return {"outputs": [{"data": {"text": {"raw": text}}}]}


def wait_route(port: int, timeout: float) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=json.dumps(BODY).encode(),
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the route on port {port} did not answer within {timeout:.0f} s")
        time.sleep(0.5)


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name: state, ppid, ..."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()


def descendants() -> dict[int, str]:
    """This process's descendants (Linux /proc; none elsewhere): pid -> start time."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = _stat(int(entry))
                children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found: dict[int, str] = {}
    todo = [os.getpid()]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            if pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


def reap(pids: dict[int, str], grace: float = 5.0) -> None:
    """Ends what ray.shutdown left running, SIGKILL after a grace period: a shutdown cut
    short leaves the dashboard and runtime-env agents behind (they ignore SIGTERM), and the
    actors are not in this process group for the bench to stop."""

    def alive(pid: int) -> bool:
        try:
            fields = _stat(pid)
        except OSError:
            return False
        return fields[0] != "Z" and fields[19] == pids[pid]  # not a reused pid

    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _stop(*_) -> None:
    # Once: a second signal must not interrupt the shutdown the first one started.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise SystemExit(0)


def main() -> int:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Short: Ray's unix sockets live under it, and their paths have a length limit.
    temp_dir = tempfile.mkdtemp(prefix="ray-")
    try:
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            _temp_dir=temp_dir,
        )
        # ray.init replaces the SIGTERM handler with its own (sys.exit), under which a
        # SIGTERM here cut ray.shutdown short and left Ray's agents running.
        signal.signal(signal.SIGTERM, _stop)
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
        serve.start(
            http_options={"host": "127.0.0.1", "port": port},
            logging_config={"log_level": "WARNING", "enable_access_log": False},
        )
        serve.run(Echo.bind(), name="echo", route_prefix="/")
        wait_route(port, 120)
        print("ready", flush=True)
        while True:
            signal.pause()
    finally:
        started = descendants()
        try:
            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()
            reap(started)
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
