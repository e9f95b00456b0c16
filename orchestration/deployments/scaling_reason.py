"""Why a deployment has the replica count it has now, in one line (page and API).

The autoscaler's own rules, run for one deployment on the rows its tick reads (traffic
samples summed per bucket, and the stored decisions the charts draw), so the line says
what the next tick would do and how long a delay still has to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import FloatField, Sum
from django.utils import timezone

from orchestration.autoscaling.buckets import BUCKET_SECONDS
from orchestration.autoscaling.policy import (
    Decision,
    decide,
    explain,
    history_lookback_seconds,
    summarize,
    traffic_lookback_seconds,
)
from orchestration.deployments.autoscale import WEIGHTED, bucketed, settings_of
from orchestration.deployments.models import Deployment, ScalingDecision, TrafficSample


@dataclass(frozen=True)
class ScalingReason:
    text: str
    kind: str  # one of policy.DECISION_KINDS
    wanted: int
    desired: int
    average_in_flight: float
    acts_in: float | None  # seconds until a held change would act, if it still holds


def scaling_reason(deployment: Deployment, *, now: datetime | None = None) -> ScalingReason:
    """Three queries: the traffic buckets, the recent decisions and the one before them."""
    now = now or timezone.now()
    t_now = now.timestamp()
    config = settings_of(deployment)
    lookback = traffic_lookback_seconds(config)
    start = max(deployment.created_at.timestamp(), t_now - lookback)
    rows = (
        TrafficSample.objects.filter(
            deployment=deployment, at__gt=now - timedelta(seconds=lookback), at__lte=now
        )
        .values_list("bucket")
        .annotate(in_flight=Sum(WEIGHTED, output_field=FloatField()), requests=Sum("requests"))
        .order_by()
    )
    traffic = bucketed(
        rows,
        start=start,
        now=t_now,
        dense_from=t_now - float(config.traffic_history_seconds) - BUCKET_SECONDS,
    )
    cutoff = now - timedelta(seconds=history_lookback_seconds(config))
    decisions = ScalingDecision.objects.filter(deployment=deployment).order_by("-at", "-pk")
    # The window's decisions and the one before it, which says what held at its start.
    recent = list(decisions.filter(at__gte=cutoff).values_list("at", "wanted", "applied"))
    older = decisions.filter(at__lt=cutoff).values_list("at", "wanted", "applied").first()
    history = [
        Decision(at.timestamp(), wanted, applied, "")
        for at, wanted, applied in reversed(recent + ([older] if older else []))
    ]
    summary = summarize(config, t_now, traffic)
    current = deployment.desired_replicas
    decision = decide(config, t_now, current, (), history, summary=summary)
    return ScalingReason(
        text=explain(config, summary, decision, current),
        kind=decision.kind,
        wanted=decision.wanted,
        desired=current,
        average_in_flight=round(summary.average_in_flight, 3),
        acts_in=decision.acts_in,
    )
