"""What deployments cost, priced by the database from replica lifetimes.

The rule (README, "What a deployment costs"): a node costs its nodepool's price per hour
for every hour, and each replica is charged the part of it that its CPU request reserves,
``price_per_hour × min(1, cpu request / node CPU capacity)``, for as long as it holds the
reservation: from ``started_at`` (``created_at`` if it never started, once it was placed
on a node) until ``stopped_at``, or until now while it is live. A replica with no node
(its node was removed) is priced on the nodepool's ``cpu_cores``. Replicas packed on one
node thus split its price by CPU share, and a share nobody reserves is nobody's cost.

Idle time at min replicas: ``MinReplicaHold`` rows (written by the autoscale tick) say
how many replicas only the minimum kept, from when; each is priced at the deployment's
share of a nodepool node (its version's CPU request over the nodepool's ``cpu_cores``),
and the figure is never more than the cost itself over the same window.

Each figure is one grouped query with a conditional sum per window (the last 24 hours,
the calendar month in ``settings.TIME_ZONE``, all time), over epoch seconds so that
PostgreSQL and SQLite compute it alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import (
    Case,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least, NullIf
from django.utils import timezone

from orchestration.deployments.expressions import Epoch
from orchestration.deployments.models import (
    Deployment,
    MinReplicaHold,
    Replica,
    ReplicaState,
)

CURRENCY = "USD"
PLACES = Decimal("0.0001")
HOUR = 3600.0
# A replica reserves its node's capacity from placement until it is stopped.
HOLDING_STATES = (
    ReplicaState.PENDING,
    ReplicaState.STARTING,
    ReplicaState.READY,
    ReplicaState.DRAINING,
)
# Groupings the summaries offer: a Replica (or MinReplicaHold) path to group by.
GROUPS = {
    "deployment": "deployment",
    "nodepool": "deployment__nodepool",
    "owner": "deployment__owner",
}


@dataclass(frozen=True)
class Windows:
    """The moments the figures are cut at."""

    now: datetime
    day_start: datetime  # 24 hours before now
    month_start: datetime  # midnight on the 1st, in settings.TIME_ZONE

    @classmethod
    def at(cls, now: datetime | None = None) -> Windows:
        now = now or timezone.now()
        local = timezone.localtime(now)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return cls(now=now, day_start=now - timedelta(hours=24), month_start=month_start)

    def starts(self) -> dict[str, float | None]:
        """Each window's start in epoch seconds (None: from the beginning)."""
        return {
            "day": self.day_start.timestamp(),
            "month": self.month_start.timestamp(),
            "total": None,
        }


@dataclass(frozen=True)
class Cost:
    """One group's figures, in USD; idle_* is the part kept only by min replicas."""

    day: Decimal = Decimal("0.0000")
    month: Decimal = Decimal("0.0000")
    total: Decimal = Decimal("0.0000")
    idle_day: Decimal = Decimal("0.0000")
    idle_month: Decimal = Decimal("0.0000")
    idle_total: Decimal = Decimal("0.0000")

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Cost)}
        )


ZERO = Cost()


def money(value: float | Decimal | None) -> Decimal:
    """An amount as the API and pages carry it: a Decimal with 4 places."""
    if value is None:
        return Decimal(0).quantize(PLACES)
    return Decimal(repr(value) if isinstance(value, float) else value).quantize(
        PLACES, rounding=ROUND_HALF_UP
    )


def _float(value: float) -> Value:
    return Value(float(value), output_field=FloatField())


def _as_float(expression) -> Cast:
    return Cast(expression, FloatField())


def _overlap(start, end, window_start: float | None, now: float):
    """Seconds of [start, end) inside [window_start, now), never negative."""
    lower = start if window_start is None else Greatest(start, _float(window_start))
    return Greatest(Least(end, _float(now)) - lower, _float(0.0))


def _default_cpu() -> Value:
    return _float(settings.REPLICA_DEFAULT_CPU)


def _share(cpu, capacity):
    """The part of a node a CPU request reserves: at most all of it."""
    return Least(cpu / capacity, _float(1.0))


def replica_hourly_rate(prefix: str = ""):
    """USD per hour one replica is charged (a Replica expression; see the module rule)."""
    cpu = Coalesce(_as_float(F(f"{prefix}model_version__cpu_request")), _default_cpu())
    capacity = Coalesce(
        _as_float(NullIf(F(f"{prefix}node__cpu_capacity"), Value(0))),
        _as_float(F(f"{prefix}deployment__nodepool__cpu_cores")),
    )
    price = _as_float(F(f"{prefix}deployment__nodepool__price_per_hour"))
    return price * _share(cpu, capacity)


def replica_costs(windows: Windows) -> dict[str, Sum]:
    """Sums over Replica rows: USD per window, named day, month and total."""
    now = windows.now.timestamp()
    start = Epoch(Coalesce("started_at", "created_at"))
    end = Coalesce(
        Epoch("stopped_at"),
        Case(
            When(state__in=HOLDING_STATES, then=_float(now)),
            # Stopped without a stop time (not written by this product): no life to price.
            default=start,
            output_field=FloatField(),
        ),
    )
    rate = replica_hourly_rate()
    # A replica that never started nor found a node reserved no capacity.
    placed = Q(started_at__isnull=False) | Q(node__isnull=False)
    return {
        name: Sum(
            _overlap(start, end, window_start, now) * rate / _float(HOUR),
            filter=placed,
            output_field=FloatField(),
        )
        for name, window_start in windows.starts().items()
    }


def hold_costs(windows: Windows) -> dict[str, Sum]:
    """Sums over MinReplicaHold rows: USD of idle time at min replicas per window."""
    now = windows.now.timestamp()
    following = MinReplicaHold.objects.filter(
        deployment=OuterRef("deployment"), at__gt=OuterRef("at")
    ).order_by("at")
    start = Epoch("at")
    end = Coalesce(Epoch(Subquery(following.values("at")[:1])), _float(now))
    cpu = Coalesce(_as_float(F("deployment__model_version__cpu_request")), _default_cpu())
    capacity = _as_float(F("deployment__nodepool__cpu_cores"))
    price = _as_float(F("deployment__nodepool__price_per_hour"))
    rate = _as_float(F("replicas")) * price * _share(cpu, capacity)
    return {
        f"idle_{name}": Sum(
            _overlap(start, end, window_start, now) * rate / _float(HOUR),
            output_field=FloatField(),
        )
        for name, window_start in windows.starts().items()
    }


def costs_by(
    group: str, deployments: QuerySet[Deployment], windows: Windows | None = None
) -> dict[int, Cost]:
    """Figures of ``deployments`` grouped by deployment, nodepool or owner (their ids).

    Two grouped queries: the replicas' cost and the idle part; a group with no replica
    is absent (its cost is ``ZERO``).
    """
    windows = windows or Windows.at()
    key = GROUPS[group]
    ids = deployments.order_by().values("pk")
    spent = {
        row[key]: row
        for row in Replica.objects.filter(deployment__in=ids)
        .values(key)
        .annotate(**replica_costs(windows))
        .order_by()
    }
    idle = {
        row[key]: row
        for row in MinReplicaHold.objects.filter(deployment__in=ids)
        .values(key)
        .annotate(**hold_costs(windows))
        .order_by()
    }
    result = {}
    for group_id, row in spent.items():
        figures = {name: money(row[name]) for name in ("day", "month", "total")}
        held = idle.get(group_id, {})
        for name, amount in list(figures.items()):
            figures[f"idle_{name}"] = min(money(held.get(f"idle_{name}")), amount)
        result[group_id] = Cost(**figures)
    return result


def deployment_cost(deployment: Deployment, windows: Windows | None = None) -> Cost:
    """One deployment's figures."""
    found = costs_by("deployment", Deployment.objects.filter(pk=deployment.pk), windows)
    return found.get(deployment.pk, ZERO)


def with_month_cost(deployments: QuerySet[Deployment], windows: Windows | None = None):
    """``deployments`` annotated with ``cost_month`` (float USD), for ordering by it."""
    windows = windows or Windows.at()
    month = (
        Replica.objects.filter(deployment=OuterRef("pk"))
        .values("deployment")
        .annotate(month=replica_costs(windows)["month"])
        .values("month")
    )
    return deployments.annotate(
        cost_month=Coalesce(Subquery(month, output_field=FloatField()), _float(0.0))
    )


@dataclass(frozen=True)
class Summary:
    """A user's figures: all their deployments, and per nodepool and per deployment."""

    windows: Windows
    owner: Cost
    nodepools: dict[int, Cost]
    deployments: dict[int, Cost]


def summary_for(user, windows: Windows | None = None) -> Summary:
    """The user's own deployments' cost (on a shared nodepool, others' stay private)."""
    windows = windows or Windows.at()
    mine = Deployment.objects.filter(owner=user)
    return Summary(
        windows=windows,
        owner=costs_by("owner", mine, windows).get(user.pk, ZERO),
        nodepools=costs_by("nodepool", mine, windows),
        deployments=costs_by("deployment", mine, windows),
    )


def idle_line(cost: Cost, window: str = "month") -> str:
    """ "3.10 USD of 4.20 USD this month was idle time at min replicas"."""
    label = {"day": "in the last 24 hours", "month": "this month", "total": "in all"}[window]
    idle, spent = getattr(cost, f"idle_{window}"), getattr(cost, window)
    return f"{format_money(idle)} of {format_money(spent)} {label} was idle time at min replicas"


def format_money(amount: Decimal) -> str:
    """For pages: two decimals and the currency, "4.20 USD"."""
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} {CURRENCY}"


def with_costs(
    deployments: QuerySet[Deployment], windows: Windows | None = None
) -> tuple[list[Deployment], Cost]:
    """The deployments, each with ``.cost``, and their sum (a nodepool page's rows)."""
    rows = list(deployments)
    found = costs_by("deployment", deployments, windows)
    total = ZERO
    for deployment in rows:
        deployment.cost = found.get(deployment.pk, ZERO)
        total += deployment.cost
    return rows, total
