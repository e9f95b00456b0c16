"""Routing a prediction to one ready replica of a deployment, on the async path.

Each web process keeps the ready replicas of every deployment it has served in memory
and refreshes them after a short time-to-live (an expired list is still used while one
task reloads it), when Redis announces a change, or when a replica refuses a connection.
So the steady state makes no database query per request. It picks the replica with the
fewest in-flight requests, retries a refused connection once on another replica, and on
a deployment with no ready replica asks for one at once (cold start) and waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings

from orchestration import jsonsafe
from orchestration.constants import BRIDGE_CONNECT_TIMEOUT
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import observe, traffic
from orchestration.predict.cache import RefreshingCache
from orchestration.predict.dbconn import fresh_connection as _fresh_connection
from orchestration.predict.upstream import UpstreamError, UpstreamPool
from orchestration.predict.upstream_stream import ReplicaStream

log = logging.getLogger(__name__)


REMOTE_CONNECT_TIMEOUT = 2.0
# A replica that refused a connection is left out of picks this long (unless it is the
# only one), so the requests behind the failed one do not each wait on it while the
# engine watch or reconcile confirms it is gone.
EJECT_SECONDS = 3.0


@dataclass(frozen=True)
class Backend:
    replica_id: int
    address: str
    on_bridge: bool = False

    @property
    def connect_timeout(self) -> float:
        return BRIDGE_CONNECT_TIMEOUT if self.on_bridge else REMOTE_CONNECT_TIMEOUT


@dataclass
class RouteResult:
    status: int
    body: dict
    backend: Backend | None = None
    attempts: int = 0
    cold_start: bool = False


class ModelError(Exception):
    """The model itself raised: its message goes back to the caller."""


class ModelBadOutput(Exception):
    """The replica answered 200 with a body that is not strict JSON (NaN, Infinity, ...)."""


class ModelTimeout(Exception):
    """The replica took longer than PREDICT_TIMEOUT."""


class ModelCannotStream(Exception):
    """The model defines no generate method, so it has no stream to give."""


class NoReplica(Exception):
    """No replica became ready in time, or none answered."""

    def __init__(self, message: str, *, deploying: bool) -> None:
        super().__init__(message)
        self.deploying = deploying


# Seconds between a cold start's lookups of its deployment's ready replicas when no
# change notification wakes it: for the first 5 s, then after.
COLD_POLL = (0.05, 0.25)


@dataclass
class Router:
    ttl: float = 2.0
    _ready: RefreshingCache[int, list[Backend]] = field(init=False)
    _in_flight: dict[int, int] = field(default_factory=dict)
    _upstream: UpstreamPool | None = None
    _cold_start_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _reconcile_asked: dict[int, float] = field(default_factory=dict)
    _ejected: dict[int, float] = field(default_factory=dict)
    # Per deployment with a cold start waiting in this process: its loop and an event the
    # change listener sets when a replica of it changes.
    _wakeups: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self._ready = RefreshingCache(self.ttl)

    def _connections(self) -> UpstreamPool:
        loop = asyncio.get_running_loop()
        if self._upstream is None or self._upstream.loop is not loop:
            # Connections belong to one event loop (a test, or a WSGI call, runs its own).
            if self._upstream is not None:
                self._upstream.close()
            self._upstream = UpstreamPool()
            self._cold_start_locks = {}
        return self._upstream

    async def aclose(self) -> None:
        """Close the pooled connections; the next request opens new ones."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.close()

    def invalidate(self, deployment_id: int | None = None) -> None:
        self._ready.forget(deployment_id)

    def wake(self, deployment_id: int | None = None) -> None:
        """A replica changed: wake this process's cold-start waiters for the deployment
        (all of them when None). Safe from any thread (the change listener's)."""
        if deployment_id is None:
            entries = list(self._wakeups.values())
        else:
            entry = self._wakeups.get(deployment_id)
            entries = [entry] if entry else []
        for loop, event in entries:
            with suppress(RuntimeError):  # its loop has closed: nobody waits there
                loop.call_soon_threadsafe(event.set)

    def _wakeup(self, deployment_id: int) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        entry = self._wakeups.get(deployment_id)
        if entry is None or entry[0] is not loop:
            entry = self._wakeups[deployment_id] = (loop, asyncio.Event())
        return entry[1]

    async def backends(self, deployment_id: int, *, refresh: bool = False) -> list[Backend]:
        """The ready replicas; past the TTL the last answer is used while one task
        reloads it, and `refresh` waits for the database."""
        return await self._ready.get(
            deployment_id, lambda: _load_ready(deployment_id), fresh=refresh
        )

    def _pick(self, backends: list[Backend], exclude: set[int]) -> Backend | None:
        candidates = [b for b in backends if b.replica_id not in exclude]
        if not candidates:
            return None
        if self._ejected:
            now = time.monotonic()
            healthy = [b for b in candidates if self._ejected.get(b.replica_id, 0.0) < now]
            candidates = healthy or candidates
        if len(candidates) == 1:
            return candidates[0]
        # Power of two choices: nearly as good as the global minimum, without herding.
        a, b = random.sample(candidates, 2)
        return (
            a if self._in_flight.get(a.replica_id, 0) <= self._in_flight.get(b.replica_id, 0) else b
        )

    async def predict(
        self, deployment_id: int, inputs: list[dict], labels: tuple[str, ...] = NO_DEPLOYMENT
    ) -> RouteResult:
        """Send inputs to one replica; returns the runner's outputs or raises.

        `labels` are the deployment's metric labels (`instruments.DEPLOYMENT_LABELS`).
        """
        series = observe.series(labels)
        traffic.started(deployment_id)
        series.in_flight.inc()
        calls = 0.0
        try:
            result = await self._predict(deployment_id, inputs, series)
            calls = _calls(result.body.get("batch_size"), len(inputs))
            series.model_inputs.inc(len(inputs))
            series.model_calls.inc(calls)
            return result
        finally:
            traffic.finished(deployment_id, len(inputs) if calls else 0, calls)
            series.in_flight.dec()

    async def _predict(
        self, deployment_id: int, inputs: list[dict], series: observe.DeploymentSeries
    ) -> RouteResult:
        backends = await self.backends(deployment_id)
        cold = False
        if not backends:
            waiting = time.monotonic()
            try:
                backends = await self._cold_start(deployment_id, series)
            finally:
                series.cold_start_wait.observe(time.monotonic() - waiting)
            cold = True
        tried: set[int] = set()
        upstream = self._connections()
        payload = jsonsafe.dumpb({"inputs": inputs})
        for attempt in (1, 2):
            backend = self._pick(backends, tried)
            if backend is None:
                backends = await self.backends(deployment_id, refresh=True)
                backend = self._pick(backends, tried)
                if backend is None:
                    break
            tried.add(backend.replica_id)
            self._in_flight[backend.replica_id] = self._in_flight.get(backend.replica_id, 0) + 1
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(settings.PREDICT_TIMEOUT):
                    status, raw = await upstream.post_json(
                        backend.address,
                        "/predict",
                        payload,
                        connect_timeout=backend.connect_timeout,
                    )
            except UpstreamError as exc:
                # The replica is gone or going: forget the pool and try another once.
                log.info("replica %s at %s failed: %s", backend.replica_id, backend.address, exc)
                self._eject(backend.replica_id)
                self.invalidate(deployment_id)
                upstream.forget(backend.address)
                await self._reconcile_soon(deployment_id)
                backends = [b for b in backends if b.replica_id != backend.replica_id]
                continue
            except TimeoutError:
                raise ModelTimeout(
                    f"the replica did not answer within {settings.PREDICT_TIMEOUT:.0f} s"
                ) from None
            finally:
                self._in_flight[backend.replica_id] -= 1
            series.replica_latency.observe(time.perf_counter() - sent)
            return _interpret(status, raw, backend, attempt, cold)
        raise NoReplica("no replica of this deployment answered; try again", deploying=False)

    async def generate(
        self, deployment_id: int, inputs: list[dict], labels: tuple[str, ...] = NO_DEPLOYMENT
    ) -> AsyncIterator[list[dict]]:
        """The model's chunks as it yields them, each one data dict per input.

        The request counts as in flight (for the autoscaler and the metrics) until its
        last chunk. Closing this iterator early, as a caller that went away does, closes
        the replica's connection, and the runner then stops the model's generator.
        Errors before the first chunk are the exceptions `predict` raises, plus
        ModelCannotStream; after it, ModelError or ModelBadOutput end the stream.
        """
        series = observe.series(labels)
        traffic.started(deployment_id)
        series.in_flight.inc()
        try:
            stream, backend = await self._open_stream(deployment_id, inputs, series)
            try:
                async for line in stream.lines(settings.PREDICT_TIMEOUT):
                    yield _chunk(line, len(inputs))
            except TimeoutError as exc:
                raise ModelTimeout(str(exc)) from None
            except UpstreamError as exc:
                raise ModelError(f"the replica's stream broke off: {exc}") from None
            finally:
                stream.close()
                self._in_flight[backend.replica_id] -= 1
        finally:
            traffic.finished(deployment_id)
            series.in_flight.dec()

    async def _open_stream(
        self, deployment_id: int, inputs: list[dict], series: observe.DeploymentSeries
    ) -> tuple[ReplicaStream, Backend]:
        """A replica's answer to POST /generate, its head read: on one replica, or on
        another when the first cannot be reached (nothing reached its model)."""
        backends = await self.backends(deployment_id)
        if not backends:
            waiting = time.monotonic()
            try:
                backends = await self._cold_start(deployment_id, series)
            finally:
                series.cold_start_wait.observe(time.monotonic() - waiting)
        payload = jsonsafe.dumpb({"inputs": inputs})
        tried: set[int] = set()
        for _ in (1, 2):
            backend = self._pick(backends, tried)
            if backend is None:
                backends = await self.backends(deployment_id, refresh=True)
                backend = self._pick(backends, tried)
                if backend is None:
                    break
            tried.add(backend.replica_id)
            try:
                stream = await ReplicaStream.open(
                    backend.address,
                    "/generate",
                    payload,
                    connect_timeout=backend.connect_timeout,
                    head_timeout=settings.PREDICT_TIMEOUT,
                )
            except UpstreamError as exc:
                log.info("replica %s at %s failed: %s", backend.replica_id, backend.address, exc)
                self._eject(backend.replica_id)
                self.invalidate(deployment_id)
                await self._reconcile_soon(deployment_id)
                backends = [b for b in backends if b.replica_id != backend.replica_id]
                continue
            except TimeoutError:
                raise ModelTimeout(
                    f"the replica did not answer within {settings.PREDICT_TIMEOUT:.0f} s"
                ) from None
            if stream.status == 200:
                self._in_flight[backend.replica_id] = self._in_flight.get(backend.replica_id, 0) + 1
                return stream, backend
            try:
                raw = await stream.read_body(settings.PREDICT_TIMEOUT)
            finally:
                stream.close()
            if stream.status == 501:
                raise ModelCannotStream(_error_text(raw) or "the model has no generate method")
            _interpret(stream.status, raw, backend, 1, False)  # raises for every other status
        raise NoReplica("no replica of this deployment answered; try again", deploying=False)

    def _eject(self, replica_id: int) -> None:
        now = time.monotonic()
        for stale in [r for r, until in self._ejected.items() if until < now]:
            del self._ejected[stale]
        self._ejected[replica_id] = now + EJECT_SECONDS

    async def _reconcile_soon(self, deployment_id: int) -> None:
        """A replica refused or dropped a request: have reconcile look now (it replaces a
        dead one), at most once a second per deployment. Queuing it is one broker
        publish, paid only on this failure path."""
        now = time.monotonic()
        if now - self._reconcile_asked.get(deployment_id, -1e9) < 1.0:
            return
        self._reconcile_asked[deployment_id] = now
        await _request_reconcile(deployment_id)

    async def _cold_start(
        self, deployment_id: int, series: observe.DeploymentSeries
    ) -> list[Backend]:
        lock = self._cold_start_locks.setdefault(deployment_id, asyncio.Lock())
        async with lock:
            # Only the first waiter in this process asks; the database update is
            # conditional, so other processes asking at once still start one replica.
            backends = await self.backends(deployment_id, refresh=True)
            if backends:
                return backends
            if not await _request_replica(deployment_id):
                raise NoReplica("this deployment is being deleted", deploying=False)
            series.cold_starts.inc()
        started = time.monotonic()
        deadline = started + settings.COLD_START_TIMEOUT
        woken = self._wakeup(deployment_id)
        while time.monotonic() < deadline:
            # Woken by the change listener the moment a replica turns ready (with Redis);
            # else, and as a safety net, briskly while a quick model is likely to come
            # up, then easing off for slow loads. Waiters in this process share lookups.
            woken.clear()
            waited = time.monotonic() - started
            with suppress(TimeoutError):
                async with asyncio.timeout(COLD_POLL[0] if waited < 5.0 else COLD_POLL[1]):
                    await woken.wait()
            backends = await self.backends(deployment_id, refresh=True)
            if backends:
                return backends
        raise NoReplica(
            "the model is deploying: no replica was ready within "
            f"{settings.COLD_START_TIMEOUT:.0f} s",
            deploying=True,
        )


def _interpret(status: int, raw: bytes, backend: Backend, attempt: int, cold: bool) -> RouteResult:
    try:
        body = jsonsafe.loads(raw)
    except jsonsafe.JSONError as exc:
        if status == 200:
            # Forwarding it would hand the caller what strict parsers refuse; the model
            # (not the request) is at fault, so it is a bad gateway, said plainly.
            raise ModelBadOutput(str(exc)) from None
        body = {"error": raw[:500].decode(errors="replace")}
    if status == 200 and isinstance(body, dict):
        return RouteResult(200, body, backend, attempt, cold)
    message = body.get("error") if isinstance(body, dict) else None
    if status == 503:
        raise NoReplica(message or "the replica is not ready", deploying=True)
    raise ModelError(message or f"the replica answered HTTP {status}")


def _calls(batch_size, inputs: int) -> float:
    """The share of model calls a request's inputs took: the runner says how many inputs
    the call they rode in held (`batch_size`); a runner without batching, one call."""
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= inputs:
        return inputs / batch_size if batch_size else 0.0
    return 1.0


def _error_text(raw: bytes) -> str:
    try:
        body = jsonsafe.loads(raw)
    except jsonsafe.JSONError:
        return raw[:500].decode(errors="replace")
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _chunk(line: bytes, expected: int) -> list[dict]:
    """One streamed line: a chunk of outputs, one per input, or the model's error."""
    try:
        body = jsonsafe.loads(line)
    except jsonsafe.JSONError as exc:
        raise ModelBadOutput(str(exc)) from None
    if isinstance(body, dict) and "error" in body:
        raise ModelError(str(body["error"]))
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or len(outputs) != expected:
        raise ModelBadOutput(f"a streamed chunk must hold {expected} output(s), one per input")
    return [item if isinstance(item, dict) else {} for item in outputs]


@sync_to_async
def _load_ready(deployment_id: int) -> list[Backend]:
    _fresh_connection()
    from orchestration.deployments.models import Replica, ReplicaState

    rows = Replica.objects.filter(
        deployment_id=deployment_id, state=ReplicaState.READY
    ).values_list("pk", "address", "on_bridge")
    return [Backend(pk, address, on_bridge) for pk, address, on_bridge in rows if address]


@sync_to_async
def _request_replica(deployment_id: int) -> bool:
    _fresh_connection()
    from orchestration.deployments.actions import request_cold_start

    return request_cold_start(deployment_id)


@sync_to_async
def _request_reconcile(deployment_id: int) -> None:
    _fresh_connection()
    from orchestration.deployments.actions import request_reconcile

    request_reconcile(deployment_id)


router = Router(ttl=2.0)


def start_change_listener() -> None:
    """Listen for replica changes and revoked keys on Redis pub/sub in a thread (when
    REDIS_URL is set)."""
    if not settings.REDIS_URL or getattr(start_change_listener, "started", False):
        return
    start_change_listener.started = True
    import threading

    import redis

    from orchestration.deployments.routing_state import CHANNEL, KEYS_CHANNEL
    from orchestration.predict import resolve

    def listen() -> None:
        while True:
            try:
                client = redis.Redis.from_url(settings.REDIS_URL)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL, KEYS_CHANNEL)
                for message in pubsub.listen():
                    if message["channel"] == KEYS_CHANNEL.encode():
                        resolve.forget_key(message["data"].decode())
                        continue
                    try:
                        deployment_id = int(message["data"])
                    except (TypeError, ValueError):
                        deployment_id = None
                    router.invalidate(deployment_id)
                    router.wake(deployment_id)
            except Exception as exc:  # noqa: BLE001 - keep listening; the TTL covers gaps
                log.warning("routing change listener: %s", exc)
                time.sleep(2)

    threading.Thread(target=listen, name="routing-changes", daemon=True).start()
