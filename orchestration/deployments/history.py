"""The last hour of a deployment as chart series: traffic, wanted and ready replicas.

A few queries per chart set, never one per point:

- traffic: one query over `TrafficSample` rows, summed per 5 s bucket in Python. Web
  processes write a row only when there was traffic, so empty buckets are zeros. Each row
  counts time-weighted, as `autoscale.bucketed` does for the policy: its in-flight average
  and its rate (requests / interval) are weighted by the share of a bucket its interval
  covers, so several processes add up and several short flushes of one process do not
  count twice. A row's ``at`` ends its interval: it belongs to the bucket ending at or
  after it, and the bucket's point is drawn at the bucket's end (capped at now).
- wanted and target replicas: the `ScalingDecision` rows of the window plus the latest one
  before it (a decision holds until the next, so that one gives the value at the left edge).
- ready replicas: the `Replica` rows that were ready at some time in the window; the count
  at ``t`` is the replicas with ``ready_at <= t`` and no ``stopped_at`` at or before ``t``.

Times are epoch seconds (floats), as the policy and the charts use them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end
from orchestration.autoscaling.policy import Decision, TrafficPoint
from orchestration.deployments.expressions import Epoch
from orchestration.deployments.models import (
    Deployment,
    Replica,
    ScalingDecision,
    TrafficSample,
)
from orchestration.web.charts import Marker, Series, change_markers, line_chart

WINDOW_SECONDS = 3600.0

Point = tuple[float, float]

# Chart colours: traffic in blue/orange, replicas as wanted (violet, dashed), target (blue),
# ready (green).
REQUESTS_COLOR = "#2563eb"
IN_FLIGHT_COLOR = "#ea580c"
WANTED_COLOR = "#9333ea"
TARGET_COLOR = "#2563eb"
READY_COLOR = "#16a34a"


@dataclass(frozen=True)
class Bucket:
    at: float  # end of the bucket (capped at the window's end)
    requests: int  # requests that arrived in the bucket, all rows summed
    requests_per_second: float
    in_flight: float  # time-weighted average in-flight requests


@dataclass(frozen=True)
class TrafficHistory:
    start: float
    end: float
    buckets: tuple[Bucket, ...]  # every bucket of the window, zeros included
    rows: int  # traffic rows read
    inputs: int = 0  # inputs the model answered in predictions
    model_calls: float = 0.0  # the model calls they made up (shares of batched calls)

    @property
    def has_traffic(self) -> bool:
        return self.rows > 0

    @property
    def average_batch_size(self) -> float | None:
        """Inputs per model call; None without predictions in the window."""
        return self.inputs / self.model_calls if self.model_calls > 0 else None

    @property
    def total_requests(self) -> int:
        return sum(b.requests for b in self.buckets)

    @property
    def peak_requests_per_second(self) -> float:
        return max((b.requests_per_second for b in self.buckets), default=0.0)

    @property
    def peak_in_flight(self) -> float:
        return max((b.in_flight for b in self.buckets), default=0.0)

    def requests_per_second(self) -> list[Point]:
        return compact_line([(b.at, b.requests_per_second) for b in self.buckets])

    def in_flight(self) -> list[Point]:
        return compact_line([(b.at, b.in_flight) for b in self.buckets])

    def policy_samples(self) -> list[TrafficPoint]:
        """The buckets as the policy reads traffic (for replaying them through `simulate`)."""
        return [
            TrafficPoint(at=b.at, in_flight=b.in_flight, requests=b.requests) for b in self.buckets
        ]


@dataclass(frozen=True)
class ReplicaHistory:
    start: float
    end: float
    before: Decision | None  # the latest decision before the window: holds at its start
    decisions: tuple[Decision, ...]  # the decisions inside the window, oldest first
    ready: tuple[Point, ...]  # step points: the ready count from each time on

    @property
    def wanted(self) -> list[Point]:
        return self._steps("wanted")

    @property
    def target(self) -> list[Point]:
        return self._steps("applied")

    def _steps(self, attribute: str) -> list[Point]:
        points = []
        if self.before is not None:
            points.append((self.start, float(getattr(self.before, attribute))))
        points.extend((d.at, float(getattr(d, attribute))) for d in self.decisions)
        return compact_steps(points)

    @property
    def markers(self) -> list[Marker]:
        """The decisions inside the window that changed the replica count."""
        start = self.before.applied if self.before is not None else None
        return change_markers(self.decisions, start_replicas=start)


# -- series helpers ------------------------------------------------------------------------


def compact_line(points: Sequence[Point]) -> list[Point]:
    """Drop the inner points of flat runs: a line through them draws the same."""
    out = []
    last = len(points) - 1
    for i, point in enumerate(points):
        if 0 < i < last and points[i - 1][1] == point[1] == points[i + 1][1]:
            continue
        out.append(point)
    return out


def compact_steps(points: Sequence[Point]) -> list[Point]:
    """Keep the points of a step line where the value changes (a value holds until the next).

    Several points at the same time keep the last value.
    """
    out: list[Point] = []
    for x, y in points:
        if out and out[-1][0] == x:
            out[-1] = (x, y)
            if len(out) > 1 and out[-2][1] == y:
                out.pop()
        elif not out or out[-1][1] != y:
            out.append((x, y))
    return out


def _epoch(value: datetime) -> float:
    return value.timestamp()


# -- queries -------------------------------------------------------------------------------


def bucket_traffic(
    rows: Iterable[tuple[float, float, int, float]], *, start: float, end: float
) -> tuple[Bucket, ...]:
    """Sum ``(at, in_flight, requests, interval_seconds)`` rows into the window's buckets."""
    size = BUCKET_SECONDS
    first_end = math.floor(start / size) * size + size
    last_end = math.ceil(end / size) * size
    count = max(1, int(round((last_end - first_end) / size)) + 1)
    requests = [0] * count
    rates = [0.0] * count
    in_flight = [0.0] * count
    for at, flight, arrived, interval in rows:
        index = int(round((bucket_end(at, size) - first_end) / size))
        if not 0 <= index < count:
            continue
        interval = float(interval) if interval and interval > 0 else size
        weight = min(interval, size) / size
        requests[index] += int(arrived)
        rates[index] += int(arrived) / interval * weight
        in_flight[index] += float(flight) * weight
    return tuple(
        Bucket(
            at=min(first_end + k * size, end),
            requests=requests[k],
            requests_per_second=round(rates[k], 4),
            in_flight=round(in_flight[k], 4),
        )
        for k in range(count)
    )


def traffic_history(
    deployments, *, end: float | None = None, window: float = WINDOW_SECONDS
) -> TrafficHistory:
    """Traffic of ``deployments`` (a queryset, or one deployment) summed over the window."""
    end = window_end(end)
    start = end - window
    if isinstance(deployments, Deployment):
        rows_qs = TrafficSample.objects.filter(deployment=deployments)
    else:
        rows_qs = TrafficSample.objects.filter(deployment__in=deployments)
    rows = list(
        rows_qs.filter(at__gt=_dt(start), at__lte=_dt(end))
        .annotate(epoch=Epoch("at"))
        .values_list("epoch", "in_flight", "requests", "interval_seconds", "inputs", "batches")
    )
    buckets = bucket_traffic((row[:4] for row in rows), start=start, end=end)
    inputs = sum(row[4] for row in rows)
    calls = sum(row[5] for row in rows)
    return TrafficHistory(start, end, buckets, len(rows), inputs, calls)


def replica_history(
    deployment: Deployment, *, end: float | None = None, window: float = WINDOW_SECONDS
) -> ReplicaHistory:
    """Decisions and ready replicas of one deployment over the window (three queries)."""
    end = window_end(end)
    start = end - window
    start_dt, end_dt = _dt(start), _dt(end)
    decisions = ScalingDecision.objects.filter(deployment=deployment)
    before_row = (
        decisions.filter(at__lt=start_dt)
        .order_by("-at", "-pk")
        .values_list("at", "wanted", "applied", "reason")
        .first()
    )
    inside = decisions.filter(at__gte=start_dt, at__lte=end_dt).order_by("at", "pk")
    before = _decision(before_row) if before_row else None
    window_decisions = tuple(
        _decision(row) for row in inside.values_list("at", "wanted", "applied", "reason")
    )
    spans = (
        Replica.objects.filter(deployment=deployment, ready_at__isnull=False, ready_at__lte=end_dt)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=start_dt))
        .values_list("ready_at", "stopped_at")
    )
    ready = ready_steps(
        [(_epoch(r), _epoch(s) if s else None) for r, s in spans], start=start, end=end
    )
    return ReplicaHistory(start, end, before, window_decisions, tuple(ready))


def ready_steps(
    spans: Iterable[tuple[float, float | None]], *, start: float, end: float
) -> list[Point]:
    """Step points of how many ``(ready_at, stopped_at)`` spans cover each time in the window.

    A replica counts from ``ready_at`` on, and no longer at ``stopped_at``.
    """
    changes: dict[float, int] = {}
    count = 0
    for ready_at, stopped_at in spans:
        if ready_at > end or (stopped_at is not None and stopped_at <= max(start, ready_at)):
            continue
        if ready_at <= start:
            count += 1
        else:
            changes[ready_at] = changes.get(ready_at, 0) + 1
        if stopped_at is not None and stopped_at <= end:
            changes[stopped_at] = changes.get(stopped_at, 0) - 1
    points = [(start, float(count))]
    for at in sorted(changes):
        count += changes[at]
        points.append((at, float(count)))
    return compact_steps(points)


def window_end(end: float | None = None) -> float:
    """The end of the last full bucket at or before ``end`` (default: now).

    The bucket still filling has only some processes' rows yet: drawn, it would show a
    drop that is not there. Both histories end here, so their charts line up.
    """
    end = timezone.now().timestamp() if end is None else float(end)
    return math.floor(end / BUCKET_SECONDS + 1e-9) * BUCKET_SECONDS


def _decision(row) -> Decision:
    at, wanted, applied, reason = row
    return Decision(at=_epoch(at), wanted=wanted, applied=applied, reason=reason)


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# -- the deployment page's charts ------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentCharts:
    traffic: TrafficHistory
    replicas: ReplicaHistory
    requests_svg: SafeString
    in_flight_svg: SafeString
    replicas_svg: SafeString
    updated: datetime

    @property
    def latest_ready(self) -> int:
        return int(self.replicas.ready[-1][1]) if self.replicas.ready else 0


NO_TRAFFIC = "No traffic yet"


def deployment_charts(deployment: Deployment, *, now: datetime | None = None) -> DeploymentCharts:
    """The three charts of the deployment page, as SVG, over the last hour."""
    now = now or timezone.now()
    end = window_end(now.timestamp())
    traffic = traffic_history(deployment, end=end)
    replicas = replica_history(deployment, end=end)
    x_range = (traffic.start, end)
    has = traffic.has_traffic

    def traffic_chart(name, points, color, kind, title, y_label, y_unit) -> str:
        return line_chart(
            [Series(name, points if has else [], color=color, css_class=f"series-{kind}")],
            width=520,
            height=200,
            title=title,
            y_label=y_label,
            y_unit=y_unit,
            x_range=x_range,
            empty_text=NO_TRAFFIC,
            chart_id=f"chart-{kind}-{deployment.pk}",
        )

    requests_svg = traffic_chart(
        "Requests/s",
        traffic.requests_per_second(),
        REQUESTS_COLOR,
        "requests",
        "Requests per second, last hour",
        "Requests",
        "req/s",
    )
    in_flight_svg = traffic_chart(
        "In-flight",
        traffic.in_flight(),
        IN_FLIGHT_COLOR,
        "in-flight",
        "In-flight requests, last hour",
        "In flight",
        "requests",
    )
    replicas_svg = line_chart(
        [
            # Ready first, drawn wide and light (see portal.css), so that the target line
            # stays visible on top of it where they agree.
            Series("Ready", replicas.ready, step=True, color=READY_COLOR, css_class="series-ready"),
            Series(
                "Target", replicas.target, step=True, color=TARGET_COLOR, css_class="series-target"
            ),
            Series(
                "Wanted",
                replicas.wanted,
                step=True,
                dashed=True,
                color=WANTED_COLOR,
                css_class="series-wanted",
            ),
        ],
        width=1060,
        height=240,
        title="Replicas, last hour",
        y_label="Count",
        y_unit="replicas",
        band=(deployment.min_replicas, deployment.max_replicas),
        band_label=f"min–max ({deployment.min_replicas}–{deployment.max_replicas})",
        markers=replicas.markers,
        x_range=x_range,
        empty_text="No replicas yet",
        chart_id=f"chart-replicas-{deployment.pk}",
    )
    return DeploymentCharts(
        traffic=traffic,
        replicas=replicas,
        requests_svg=mark_safe(requests_svg),  # noqa: S308 - line_chart escapes every text
        in_flight_svg=mark_safe(in_flight_svg),  # noqa: S308
        replicas_svg=mark_safe(replicas_svg),  # noqa: S308
        updated=now,
    )
