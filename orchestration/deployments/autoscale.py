"""One autoscaler tick over every active deployment, with a fixed number of queries.

The policy itself (`orchestration.autoscaling.policy.decide`) is pure; this module feeds
it from the database and applies what it returns. Decisions are stored only when the
wanted or applied count changes: the policy treats a decision as holding until the next
one, so the stored history means the same as one row per tick, at a fraction of the rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    PositiveIntegerField,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Least
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end
from orchestration.autoscaling.policy import (
    EPS,
    AutoscaleSettings,
    Decision,
    TrafficPoint,
    TrafficSummary,
    decide,
    history_lookback_seconds,
    kept_for_min,
    summarize,
    traffic_lookback_seconds,
)
from orchestration.deployments import routing_state
from orchestration.deployments.expressions import Epoch
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    MinReplicaHold,
    ScalingDecision,
    TrafficSample,
)
from orchestration.metrics.instruments import AUTOSCALER_DECISIONS

log = logging.getLogger(__name__)
# A tick already queued this much after a delay ends still serves it.
DUE_SLACK = 0.25
# Queued this much after the delay ends, so the decision there finds it ended.
DUE_MARGIN = 0.05
_due_lock = threading.Lock()
_due_at = 0.0


@dataclass(frozen=True)
class Change:
    deployment_id: int
    before: int
    after: int
    reason: str


def settings_of(deployment: Deployment) -> AutoscaleSettings:
    return AutoscaleSettings(**{name: getattr(deployment, name) for name in AUTOSCALE_DEFAULTS})


def bucketed(rows, *, start: float, now: float, dense_from: float) -> list[TrafficPoint]:
    """Per-bucket sums (bucket end, in-flight, requests); zero-fill recent empty buckets.

    `rows` are already summed per bucket over all web processes (see `evaluate_all`).
    Processes only write samples when there was traffic, so without the zero buckets an
    average over the scaling timeframe would count only the busy moments.
    """
    buckets: dict[float, tuple[float, int]] = {end: (f, int(r)) for end, f, r in rows}
    end = bucket_end(max(dense_from, start))
    while end - BUCKET_SECONDS <= now:
        buckets.setdefault(end, (0.0, 0))
        end += BUCKET_SECONDS
    # An anchor at the start says "no traffic before this", so an idle deployment can
    # reach its scale-to-zero delay even though idle time writes no samples.
    buckets.setdefault(bucket_end(start), (0.0, 0))
    return [
        TrafficPoint(end if end < now else now, f, r) for end, (f, r) in sorted(buckets.items())
    ]


def _summary(
    config: AutoscaleSettings,
    now: float,
    start: float,
    aggregate: tuple[float, float | None, float | None] | None,
    grid_counts: dict[tuple[float, float], int],
) -> TrafficSummary:
    """`summarize` of the `bucketed` points, from the grouped figures (timeframe > 0).

    Every bucket of the timeframe is a point (`bucketed` zero-fills them), so the average
    is the sum over the number of grid points in it; that number depends only on the
    timeframe and start, so it is counted once per distinct pair. Walking back from now,
    the idle rule stops at the newest busy bucket or at the first point at or before the
    delay's start; the oldest point is the anchor at the start or an older sample.
    """
    timeframe = float(config.traffic_history_seconds)
    total, newest_busy, oldest = aggregate or (0.0, None, None)
    key = (timeframe, start)
    count = grid_counts.get(key)
    if count is None:
        grid = bucketed((), start=start, now=now, dense_from=now - timeframe - BUCKET_SECONDS)
        count = sum(1 for p in grid if p.at - (now - timeframe) > EPS)
        grid_counts[key] = count
    average = max(0.0, total / count) if count else 0.0
    delay = config.idle_seconds_before_zero
    if delay <= 0:
        return TrafficSummary(average, True, 0.0)
    idle_start = now - delay
    if newest_busy is not None and min(newest_busy, now) - idle_start > EPS:
        return TrafficSummary(average, False, now - min(newest_busy, now))
    earliest = min(bucket_end(start), now)
    if oldest is not None:
        earliest = min(earliest, min(oldest, now))
    if earliest - idle_start <= EPS:
        return TrafficSummary(average, True, now - earliest)
    return TrafficSummary(average, False, now - earliest)


# A sample's in-flight average, weighted by the part of a bucket its interval covers.
WEIGHTED = (
    F("in_flight") * Least(F("interval_seconds"), Value(BUCKET_SECONDS)) / Value(BUCKET_SECONDS)
)
# Up to this many distinct scaling timeframes get a sum column each; more join the
# deployment to read each one's own timeframe per sample (about a third slower).
TIMEFRAME_COLUMNS = 8


def _traffic_aggregates(window, deployments, t_now: float) -> dict[int, tuple]:
    """Per deployment, in one grouped query: (in-flight sum over its scaling timeframe,
    newest busy bucket, oldest bucket).

    `_summary` turns them into what `summarize` would read off the zero-filled point list
    (600,000 points at 10,000 deployments otherwise). Timeframes of 0 read the latest
    bucket instead (`_evaluate` fetches those few deployments' buckets).
    """
    bucket = F("bucket")
    busy = Q(requests__gt=0) | Q(in_flight__gt=0, interval_seconds__gt=0)
    timeframes = sorted({float(c.traffic_history_seconds) for *_, c in deployments})
    joined = len(timeframes) > TIMEFRAME_COLUMNS
    if not joined:
        # Each constant alone on its side of the comparison: `constant - column` would
        # be numeric arithmetic on every row in PostgreSQL.
        windows = [
            GreaterThan(bucket, Value(t_now + EPS - timeframe, output_field=FloatField()))
            for timeframe in timeframes
        ]
    else:
        windows = [
            GreaterThan(
                bucket + F("deployment__traffic_history_seconds"),
                Value(t_now + EPS, output_field=FloatField()),
            )
        ]
    sums = {
        f"total{i}": Sum(WEIGHTED, filter=in_window, output_field=FloatField())
        for i, in_window in enumerate(windows)
    }
    # Which sum is each deployment's: the one of its timeframe, or the joined one.
    position = {timeframe: i for i, timeframe in enumerate(timeframes)}
    column = {
        pk: 0 if joined else position[float(c.traffic_history_seconds)]
        for pk, _, _, c in deployments
    }
    aggregates = {}
    for deployment_id, newest_busy, oldest, *totals in (
        window.values("deployment_id")
        .annotate(
            newest_busy=Max(bucket, filter=busy),
            oldest=Min(bucket),
            **sums,
        )
        .order_by()
        .values_list("deployment_id", "newest_busy", "oldest", *sums)
    ):
        if deployment_id in column:
            total = totals[column[deployment_id]]
            aggregates[deployment_id] = (total or 0.0, newest_busy, oldest)
    return aggregates


@dataclass(frozen=True)
class Tick:
    changed: list[int]  # deployments whose replica count changed
    # Seconds until the soonest hold that only waits for its delay would act (None: none).
    next_due: float | None


def evaluate_all(now: datetime | None = None) -> list[Change]:
    """Decide every active deployment's replica count; apply and record the changes."""
    return _evaluate(now)[0]


def _evaluate(now: datetime | None) -> tuple[list[Change], float | None]:
    now = now or timezone.now()
    t_now = now.timestamp()
    # Plain tuples with the database's epoch floats: at 10,000 deployments, model
    # instances, timezone-aware datetimes and lists of ids sent back as `IN (...)`
    # parameters each cost more than the grouped query itself.
    active = Deployment.objects.exclude(status=DeploymentStatus.DELETING).exclude(
        model_version__build_status="failed"
    )
    fields = tuple(AUTOSCALE_DEFAULTS)
    # Most deployments share their settings: one object (and lookback) per distinct set.
    shared: dict[tuple, tuple[AutoscaleSettings, float]] = {}
    deployments = []
    # How many replicas the minimum keeps, as last recorded: a row is written on change.
    latest_hold = MinReplicaHold.objects.filter(deployment=OuterRef("pk")).order_by("-at", "-pk")
    held_before: dict[int, int] = {}
    for pk, created, held, current, *values in (
        active.annotate(
            created=Epoch("created_at"), held=Subquery(latest_hold.values("replicas")[:1])
        )
        .order_by()
        .values_list("pk", "created", "held", "desired_replicas", *fields)
    ):
        held_before[pk] = held or 0
        key = tuple(values)
        if key not in shared:
            config = AutoscaleSettings(**dict(zip(fields, values, strict=True)))
            shared[key] = (config, traffic_lookback_seconds(config))
        config, lookback = shared[key]
        deployments.append((pk, max(created, t_now - lookback), current, config))
    if not deployments:
        return [], None
    traffic_span = max(lookback for _, lookback in shared.values())
    history_span = max(history_lookback_seconds(config) for config, _ in shared.values())
    traffic_cutoff = now - timedelta(seconds=traffic_span)
    history_cutoff = now - timedelta(seconds=history_span)

    window = TrafficSample.objects.filter(at__gt=traffic_cutoff, at__lte=now)
    aggregates = _traffic_aggregates(window, deployments, t_now)
    samples: dict[int, list] = defaultdict(list)
    if any(float(c.traffic_history_seconds) <= 0 for *_, c in deployments):
        for deployment_id, end, in_flight, requests in (
            window.filter(deployment__traffic_history_seconds__lte=0)
            .values_list("deployment_id", "bucket")
            .annotate(in_flight=Sum(WEIGHTED, output_field=FloatField()), requests=Sum("requests"))
            .order_by()
        ):
            samples[deployment_id].append((end, in_flight, requests))

    # The decisions in the history window, and the one just before it, however old (it
    # closes the window): one query, the latter found per deployment through its index.
    previous = ScalingDecision.objects.filter(
        deployment=OuterRef("pk"), at__lt=history_cutoff
    ).order_by("-at", "-pk")
    previous_ids = active.annotate(prev=Subquery(previous.values("pk")[:1])).values("prev")
    history: dict[int, list[Decision]] = defaultdict(list)
    for deployment_id, at, wanted, applied, reason in (
        ScalingDecision.objects.filter(Q(at__gte=history_cutoff) | Q(pk__in=previous_ids))
        .annotate(epoch=Epoch("at"))
        .order_by("at", "pk")
        .values_list("deployment_id", "epoch", "wanted", "applied", "reason")
    ):
        history[deployment_id].append(Decision(at, wanted, applied, reason))

    grid_counts: dict[tuple[float, float], int] = {}
    new_rows: list[tuple[int, int, int, str]] = []
    holds: list[MinReplicaHold] = []
    changes: list[Change] = []
    due: list[float] = []
    kinds: Counter[str] = Counter()
    for pk, start, current, config in deployments:
        if float(config.traffic_history_seconds) <= 0:
            traffic = bucketed(
                samples.get(pk, ()),
                start=start,
                now=t_now,
                dense_from=t_now - float(config.traffic_history_seconds) - BUCKET_SECONDS,
            )
            summary = summarize(config, t_now, traffic)
        else:
            summary = _summary(config, t_now, start, aggregates.get(pk), grid_counts)
        past = history.get(pk, [])
        decision = decide(config, t_now, current, (), past, summary=summary)
        kinds[decision.kind] += 1
        last = past[-1] if past else None
        if last is None or (last.wanted, last.applied) != (decision.wanted, decision.applied):
            new_rows.append((pk, decision.wanted, decision.applied, decision.reason))
        if decision.applied != current:
            changes.append(Change(pk, current, decision.applied, decision.reason))
        held = kept_for_min(config, summary, decision.applied)
        if held != held_before[pk]:
            holds.append(MinReplicaHold(deployment_id=pk, at=now, replicas=held))
        if decision.acts_in is not None:
            due.append(decision.acts_in)

    ScalingDecision.objects.record_many(now, new_rows)
    for kind, count in kinds.items():
        AUTOSCALER_DECISIONS.labels(kind).inc(count)
    if holds:
        MinReplicaHold.objects.bulk_create(holds)
    applied = _apply(changes)
    return [c for c in changes if c.deployment_id in applied], min(due, default=None)


def apply_all(now: datetime | None = None) -> Tick:
    """One tick: evaluate and apply, and say each change in its deployment's event log."""
    changes, next_due = _evaluate(now)
    if not changes:
        return Tick([], next_due)
    alive = set(
        Deployment.objects.filter(pk__in=[c.deployment_id for c in changes]).values_list(
            "pk", flat=True
        )
    )
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment_id=c.deployment_id,
            kind="autoscale",
            message=f"Replicas {c.before} → {c.after}: {c.reason}",
            source="autoscaler",
        )
        for c in changes
        if c.deployment_id in alive
    )
    return Tick([c.deployment_id for c in changes if c.deployment_id in alive], next_due)


def claim_due_tick(seconds: float) -> bool:
    """Whether to queue an extra tick in `seconds` for a delay that ends then: not when
    one is already queued for about that moment or sooner (a Redis key holds the soonest;
    without Redis, this process remembers it)."""
    global _due_at
    at = time.time() + seconds
    client = routing_state.redis_client()
    if client is not None:
        key = f"orchestration:{settings.INSTANCE_ID}:autoscale-due"
        try:
            queued = client.get(key)
            if queued is not None and time.time() <= float(queued) <= at + DUE_SLACK:
                return False
            client.set(key, f"{at:.3f}", px=int(seconds * 1000) + 1000)
            return True
        except Exception as exc:  # noqa: BLE001 - Redis down: this process decides
            log.warning("could not record the next autoscale tick in Redis: %s", exc)
    with _due_lock:
        if _due_at > time.time() and _due_at <= at + DUE_SLACK:
            return False
        _due_at = at
    return True


def _apply(changes: list[Change]) -> set[int]:
    """One UPDATE for all changes, each only if nobody changed the count meanwhile."""
    if not changes:
        return set()
    guard = Q()
    for change in changes:
        guard |= Q(pk=change.deployment_id, desired_replicas=change.before)
    candidates = set(Deployment.objects.filter(guard).values_list("pk", flat=True))
    Deployment.objects.filter(guard).update(
        desired_replicas=Case(
            *[When(pk=c.deployment_id, then=Value(c.after)) for c in changes],
            default=F("desired_replicas"),
            output_field=PositiveIntegerField(),
        )
    )
    return candidates


def prune(older_than: timedelta = timedelta(hours=2)) -> int:
    """Drop traffic samples and decisions the charts and the policy no longer read.

    The latest decision of each deployment is kept, whatever its age, since the policy
    treats it as holding until now.
    """
    cutoff = timezone.now() - older_than
    deleted, _ = TrafficSample.objects.filter(at__lt=cutoff).delete()
    latest = ScalingDecision.objects.filter(deployment=OuterRef("deployment")).order_by(
        "-at", "-pk"
    )
    stale = ScalingDecision.objects.filter(at__lt=cutoff).exclude(
        pk=Subquery(latest.values("pk")[:1])
    )
    removed, _ = stale.delete()
    return deleted + removed
