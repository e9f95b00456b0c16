"""Per-deployment traffic counters, kept in memory and flushed as TrafficSample rows.

A request only touches a dict; every TRAFFIC_FLUSH_SECONDS a flush writes one row per
active deployment: requests that arrived and the time-averaged in-flight count.

The autoscaler reads the rows summed per time bucket. Twice a second the flusher also
writes a busy deployment's row early (what it has not written yet amounts to at least
one request in flight over a bucket) when that would double what this process has
written into the current bucket, or has waited a second: a load step reaches the
autoscaler within about half a second and a rising load within about a second and a half,
not up to a whole flush later. That costs a busy deployment a row a second; a quiet one
(under five requests in flight) still writes one per flush.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end


@dataclass
class _Counter:
    requests: int = 0
    in_flight: int = 0
    # Inputs answered, and the model calls they made up (a share of a batched call each).
    inputs: int = 0
    batches: float = 0.0
    area: float = 0.0  # in-flight integrated over time since the last flush
    changed: float = 0.0
    since: float = 0.0
    # What this process wrote into the current bucket (bucket end, summed row weight).
    bucket: float = 0.0
    bucket_weight: float = 0.0


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


def finished(deployment_id: int, inputs: int = 0, batches: float = 0.0) -> None:
    """A request ended; `inputs` it sent to the model in a `batches` share of calls."""
    now = time.monotonic()
    with _lock:
        counter = _counters[deployment_id]
        _advance(counter, now)
        counter.in_flight -= 1
        counter.inputs += inputs
        counter.batches += batches


EARLY_CHECK_SECONDS = 0.5
# An early row must carry at least this bucket weight (one request in flight throughout),
# and comes at the latest this long after the last.
EARLY_MIN_WEIGHT = 1.0
EARLY_MAX_SECONDS = 1.0


def _weight(area: float, interval: float) -> float:
    """What a row adds to its bucket's in-flight figure (the autoscaler's rule)."""
    return area / interval * min(interval, BUCKET_SECONDS) / BUCKET_SECONDS


def _due_early(counter: _Counter, interval: float, bucket: float) -> bool:
    pending = _weight(counter.area, interval)
    written = counter.bucket_weight if counter.bucket == bucket else 0.0
    return pending >= EARLY_MIN_WEIGHT and (pending > written or interval >= EARLY_MAX_SECONDS)


def take(*, early_only: bool = False) -> list[tuple[int, float, int, float, int, float]]:
    """(deployment id, interval seconds, requests, average in-flight, inputs, model calls)
    since the last take; `early_only`: only the deployments whose row is due early (see
    the module's text)."""
    now = time.monotonic()
    bucket = bucket_end(time.time())
    out = []
    with _lock:
        for deployment_id, counter in list(_counters.items()):
            _advance(counter, now)
            interval = max(now - counter.since, 1e-6)
            if early_only and not _due_early(counter, interval, bucket):
                continue
            if counter.requests or counter.area:
                out.append(
                    (
                        deployment_id,
                        interval,
                        counter.requests,
                        counter.area / interval,
                        counter.inputs,
                        counter.batches,
                    )
                )
                if counter.bucket != bucket:
                    counter.bucket, counter.bucket_weight = bucket, 0.0
                counter.bucket_weight += _weight(counter.area, interval)
                counter.requests, counter.area, counter.since = 0, 0.0, now
                counter.inputs, counter.batches = 0, 0.0
            elif counter.in_flight == 0:
                del _counters[deployment_id]
            else:
                counter.since = now
    return out


def flush(*, early_only: bool = False) -> int:
    """Write the samples taken now (see `take`); returns how many rows were written."""
    from django.db import close_old_connections, transaction
    from django.utils import timezone

    from orchestration.deployments.models import Deployment

    samples = take(early_only=early_only)
    if not samples:
        return 0
    close_old_connections()
    with transaction.atomic():
        _bound_lock_wait()
        existing = set(
            Deployment.objects.filter(pk__in=[s[0] for s in samples]).values_list("pk", flat=True)
        )
        at = timezone.now()
        _write(samples, existing, at)
    if existing:
        from orchestration.deployments.actions import request_autoscale

        # The policy sees this traffic now, not up to AUTOSCALE_INTERVAL later.
        request_autoscale()
    return len(samples)


# A flush gives up on a table lock after this long rather than queue behind it: a
# migration or a TRUNCATE (the test suite's flush between tests) goes first. It is shorter
# than PostgreSQL's deadlock check (1 s), so in a lock cycle the flush is the side that
# fails, not the other. The taken samples are then lost (the flusher logs it).
LOCK_WAIT = "250ms"


def _bound_lock_wait() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")


def _write(samples, existing: set[int], at) -> None:
    from orchestration.deployments.models import TrafficSample

    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment_id=deployment_id,
            at=at,
            interval_seconds=interval,
            requests=requests,
            in_flight=average,
            inputs=inputs,
            batches=batches,
        )
        for deployment_id, interval, requests, average, inputs, batches in samples
        if deployment_id in existing
    )


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
        every = settings.TRAFFIC_FLUSH_SECONDS
        next_full = time.monotonic() + every
        while True:
            time.sleep(min(EARLY_CHECK_SECONDS, every))
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + every
            try:
                if flush(early_only=not full):
                    # One short connection per flush: nothing held open between flushes.
                    connection.close()
            except Exception as exc:  # noqa: BLE001 - the flusher outlives a failed write
                log.warning("traffic flush failed: %s", exc)
                connection.close()

    threading.Thread(target=loop, name="traffic-flush", daemon=True).start()
