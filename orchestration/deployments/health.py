"""HTTP probes of a replica's runner: ready, healthy, drained (`GET /healthz`)."""

from __future__ import annotations

import time

import httpx
from django.conf import settings

from orchestration import docker_engine
from orchestration.constants import BRIDGE_CONNECT_TIMEOUT

ALIVE_STATUSES = ("running", "created", "restarting")
# Seconds between checks that a starting container is still alive.
INSPECT_EVERY = 0.25


def wait_until_ready(engine_url: str, container_id: str, address: str) -> str:
    """Poll until the runner answers ready; return why not ("" when it is)."""
    started = time.monotonic()
    deadline = started + settings.REPLICA_READY_TIMEOUT
    inspected = started
    with _client(2.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(f"http://{address}/healthz")
                if response.status_code == 200:
                    return ""
                if response.status_code == 500:
                    return f"model failed to load: {response.json().get('error', response.text)}"
            except (httpx.HTTPError, ValueError):
                pass
            waited = time.monotonic() - started
            # Whether the container died: an engine call, so not on every probe.
            if time.monotonic() - inspected >= INSPECT_EVERY:
                inspected = time.monotonic()
                try:
                    state = docker_engine.inspect_container(engine_url, container_id)
                except docker_engine.NotFoundError:
                    return "container disappeared before it was ready"
                if state.status not in ALIVE_STATUSES:
                    return f"container exited with code {state.exit_code} before it was ready"
            # A cold start waits on this loop: a refused probe costs microseconds, so
            # poll briskly while a quick runner is likely to come up (the no-op model
            # answers in about 0.4 s), then ease off for slow model loads.
            time.sleep(0.01 if waited < 2.0 else 0.05 if waited < 5.0 else 0.25)
    return f"not ready after {settings.REPLICA_READY_TIMEOUT:.0f} s"


def answers_at(address: str, *, timeout: float = 0.25) -> bool:
    """Does the runner answer ready at this address? One quick try: a bridge on this
    host answers in well under a millisecond, and an address this process cannot
    reach must not delay the replica's start."""
    try:
        return _health(address, timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _health(address: str, timeout: float | httpx.Timeout) -> httpx.Response:
    """One GET of the runner's /healthz, on a client of its own."""
    with _client(timeout) as client:
        return client.get(f"http://{address}/healthz")


def _client(timeout: float | httpx.Timeout) -> httpx.Client:
    """A client for a runner's plain-HTTP /healthz. No TLS context (httpx loads the CA
    bundle for one: 30-60 ms, paid on every probe that made its own client, one of them
    on each cold start's path) and no proxy from the environment (a bridge address must
    not go through one)."""
    # Only ever http:// (the runner serves no TLS), so nothing is left unverified.
    return httpx.Client(timeout=timeout, verify=False, trust_env=False)  # noqa: S501


def _timeout(seconds: float, on_bridge: bool) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=BRIDGE_CONNECT_TIMEOUT if on_bridge else seconds)


def healthy(address: str, *, on_bridge: bool = False) -> bool:
    if not address:
        return False
    timeout = _timeout(3.0, on_bridge)
    for _ in range(2):
        try:
            if _health(address, timeout).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def wait_drained(address: str, *, on_bridge: bool = False) -> None:
    """Until the runner has no request in flight, for at most REPLICA_DRAIN_GRACE."""
    deadline = time.monotonic() + settings.REPLICA_DRAIN_GRACE
    timeout = _timeout(2.0, on_bridge)
    while address and time.monotonic() < deadline:
        try:
            in_flight = _health(address, timeout).json().get("in_flight", 0)
        except (httpx.HTTPError, ValueError):
            return
        if not in_flight:
            return
        time.sleep(0.2)
