"""One autoscaler tick over every active deployment, with a fixed number of queries.

The policy itself (`orchestration.autoscaling.policy.decide`) is pure; this module feeds
it from the database and applies what it returns. Decisions are stored only when the
wanted or applied count changes: the policy treats a decision as holding until the next
one, so the stored history means the same as one row per tick, at a fraction of the rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    F,
    FloatField,
    Func,
    OuterRef,
    PositiveIntegerField,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Least
from django.utils import timezone

from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end
from orchestration.autoscaling.policy import (
    AutoscaleSettings,
    Decision,
    TrafficPoint,
    decide,
    history_lookback_seconds,
    traffic_lookback_seconds,
)
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    ScalingDecision,
    TrafficSample,
)


class Epoch(Func):
    """Seconds since 1970 as a float, computed by the database.

    Parsing tens of thousands of timestamps in Python costs more than the whole tick.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )


class BucketEnd(Func):
    """`buckets.bucket_end` of a timestamp (5-second buckets), computed by the database.

    Summing per bucket in SQL sends one row per deployment and bucket instead of one per
    sample and web process, and spares Python the per-sample arithmetic.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        template = (
            f"(CEIL(ROUND(EXTRACT(EPOCH FROM %(expressions)s)::numeric, 3) / {BUCKET_SECONDS})"
            f" * {BUCKET_SECONDS})::double precision"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        x = f"(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0, 3) / {BUCKET_SECONDS})"
        # SQLite may lack CEIL: integer part, plus one when there is a fraction.
        template = f"((CAST({x} AS INTEGER) + ({x} > CAST({x} AS INTEGER))) * {BUCKET_SECONDS})"
        return self.as_sql(compiler, connection, template=template, **extra)


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


def evaluate_all(now: datetime | None = None) -> list[Change]:
    """Decide every active deployment's replica count; apply and record the changes."""
    now = now or timezone.now()
    t_now = now.timestamp()
    deployments = list(
        Deployment.objects.exclude(status=DeploymentStatus.DELETING)
        .exclude(model_version__build_status="failed")
        .only("pk", "created_at", "desired_replicas", *AUTOSCALE_DEFAULTS)
    )
    if not deployments:
        return []
    configs = {d.pk: settings_of(d) for d in deployments}
    traffic_span = max(traffic_lookback_seconds(s) for s in configs.values())
    history_span = max(history_lookback_seconds(s) for s in configs.values())
    traffic_cutoff = now - timedelta(seconds=traffic_span)
    history_cutoff = now - timedelta(seconds=history_span)

    samples: dict[int, list] = defaultdict(list)
    rows = (
        TrafficSample.objects.filter(at__gt=traffic_cutoff, at__lte=now)
        .values_list("deployment_id", BucketEnd("at"))
        .annotate(
            # Time-weighted: flushes of any length, from any number of processes, add up.
            in_flight=Sum(
                F("in_flight")
                * Least(F("interval_seconds"), Value(BUCKET_SECONDS))
                / Value(BUCKET_SECONDS),
                output_field=FloatField(),
            ),
            requests=Sum("requests"),
        )
        .order_by()
    )
    for deployment_id, end, in_flight, requests in rows:
        samples[deployment_id].append((end, in_flight, requests))

    # The decision just before the window closes it, however old: fetch it per deployment.
    previous = ScalingDecision.objects.filter(
        deployment=OuterRef("pk"), at__lt=history_cutoff
    ).order_by("-at", "-pk")
    previous_ids = [
        pk
        for pk in Deployment.objects.filter(pk__in=configs)
        .annotate(prev=Subquery(previous.values("pk")[:1]))
        .values_list("prev", flat=True)
        if pk
    ]
    history: dict[int, list[Decision]] = defaultdict(list)
    for deployment_id, at, wanted, applied, reason in (
        ScalingDecision.objects.filter(Q(at__gte=history_cutoff) | Q(pk__in=previous_ids))
        .filter(deployment_id__in=configs)
        .order_by("at", "pk")
        .values_list("deployment_id", "at", "wanted", "applied", "reason")
    ):
        history[deployment_id].append(Decision(at.timestamp(), wanted, applied, reason))

    new_rows: list[ScalingDecision] = []
    changes: list[Change] = []
    for deployment in deployments:
        config = configs[deployment.pk]
        start = max(deployment.created_at.timestamp(), t_now - traffic_lookback_seconds(config))
        traffic = bucketed(
            samples.get(deployment.pk, ()),
            start=start,
            now=t_now,
            dense_from=t_now - float(config.traffic_history_seconds) - BUCKET_SECONDS,
        )
        past = history.get(deployment.pk, [])
        current = deployment.desired_replicas
        decision = decide(config, t_now, current, traffic, past)
        last = past[-1] if past else None
        if last is None or (last.wanted, last.applied) != (decision.wanted, decision.applied):
            new_rows.append(
                ScalingDecision(
                    deployment_id=deployment.pk,
                    at=now,
                    wanted=decision.wanted,
                    applied=decision.applied,
                    reason=decision.reason[:300],
                )
            )
        if decision.applied != current:
            changes.append(Change(deployment.pk, current, decision.applied, decision.reason))

    if new_rows:
        ScalingDecision.objects.bulk_create(new_rows, batch_size=500)
    applied = _apply(changes)
    return [c for c in changes if c.deployment_id in applied]


def apply_all(now: datetime | None = None) -> list[int]:
    """One tick: evaluate and apply, and say each change in its deployment's event log."""
    changes = evaluate_all(now)
    if not changes:
        return []
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
    return [c.deployment_id for c in changes if c.deployment_id in alive]


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
