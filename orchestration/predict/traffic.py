"""Per-deployment traffic counters, kept in memory and flushed as TrafficSample rows.

A request only touches a dict; every few seconds a flush writes one row per active
deployment: requests that arrived and the time-averaged in-flight count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings


@dataclass
class _Counter:
    requests: int = 0
    in_flight: int = 0
    area: float = 0.0  # in-flight integrated over time since the last flush
    changed: float = 0.0
    since: float = 0.0


_lock = threading.Lock()
_counters: dict[int, _Counter] = {}
_flusher_started = False


def _advance(counter: _Counter, now: float) -> None:
    counter.area += counter.in_flight * (now - counter.changed)
    counter.changed = now


def started(deployment_id: int) -> None:
    now = time.monotonic()
    with _lock:
        counter = _counters.get(deployment_id)
        if counter is None:
            counter = _counters[deployment_id] = _Counter(changed=now, since=now)
        _advance(counter, now)
        counter.requests += 1
        counter.in_flight += 1
    _ensure_flusher()


def finished(deployment_id: int) -> None:
    now = time.monotonic()
    with _lock:
        counter = _counters[deployment_id]
        _advance(counter, now)
        counter.in_flight -= 1


def take() -> list[tuple[int, float, int, float]]:
    """(deployment id, interval seconds, requests, average in-flight) since the last take."""
    now = time.monotonic()
    out = []
    with _lock:
        for deployment_id, counter in list(_counters.items()):
            _advance(counter, now)
            interval = max(now - counter.since, 1e-6)
            if counter.requests or counter.area:
                out.append((deployment_id, interval, counter.requests, counter.area / interval))
                counter.requests, counter.area, counter.since = 0, 0.0, now
            elif counter.in_flight == 0:
                del _counters[deployment_id]
            else:
                counter.since = now
    return out


def flush() -> int:
    """Write the samples taken now; returns how many rows were written."""
    from django.db import close_old_connections
    from django.utils import timezone

    from orchestration.deployments.models import Deployment, TrafficSample

    samples = take()
    if not samples:
        return 0
    close_old_connections()
    existing = set(
        Deployment.objects.filter(pk__in=[s[0] for s in samples]).values_list("pk", flat=True)
    )
    at = timezone.now()
    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment_id=deployment_id,
            at=at,
            interval_seconds=interval,
            requests=requests,
            in_flight=average,
        )
        for deployment_id, interval, requests, average in samples
        if deployment_id in existing
    )
    if existing:
        from orchestration.deployments.actions import request_autoscale

        # The policy sees this traffic now, not up to AUTOSCALE_INTERVAL later.
        request_autoscale()
    return len(samples)


def _ensure_flusher() -> None:
    global _flusher_started
    if _flusher_started:
        return
    with _lock:
        if _flusher_started:
            return
        _flusher_started = True

    def loop() -> None:
        import logging

        from django.db import connection

        log = logging.getLogger(__name__)
        while True:
            time.sleep(settings.TRAFFIC_FLUSH_SECONDS)
            try:
                flush()
            except Exception as exc:  # noqa: BLE001 - counters keep counting; next flush retries
                log.warning("traffic flush failed: %s", exc)
            finally:
                # One short connection per flush: nothing held open between flushes.
                connection.close()

    threading.Thread(target=loop, name="traffic-flush", daemon=True).start()
