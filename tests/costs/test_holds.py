"""The autoscale tick records how many replicas only the minimum keeps, on change."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestration.autoscaling.policy import AutoscaleSettings, TrafficSummary, kept_for_min
from orchestration.deployments.autoscale import evaluate_all
from orchestration.deployments.models import MinReplicaHold
from tests.autoscale_loop.test_loop import _deploy, _load, world  # noqa: F401


def _holds(dep):
    return list(MinReplicaHold.objects.filter(deployment=dep).values_list("replicas", flat=True))


def test_kept_for_min_counts_what_traffic_does_not_want():
    config = AutoscaleSettings(min_replicas=3, max_replicas=5, target_concurrency=4)
    quiet, busy = TrafficSummary(0.0, True, 60.0), TrafficSummary(5.0, False, 0.0)
    assert kept_for_min(config, quiet, 3) == 3
    assert kept_for_min(config, busy, 3) == 1  # 5 in flight / 4 wants 2
    assert kept_for_min(config, quiet, 5) == 3  # the two above min wait for a delay
    assert kept_for_min(AutoscaleSettings(min_replicas=0), quiet, 1) == 0


def test_tick_writes_a_hold_only_when_the_count_changes(owner, world):  # noqa: F811
    now = timezone.now()
    dep = _deploy(
        owner,
        world,
        "warm",
        min_replicas=2,
        max_replicas=4,
        desired_replicas=2,
        target_concurrency=4,
        traffic_history_seconds=60,
    )
    evaluate_all(now)
    assert _holds(dep) == [2]
    evaluate_all(now + timedelta(seconds=1))
    assert _holds(dep) == [2]  # unchanged: no row
    _load(dep, now + timedelta(seconds=120), 120, 5.0)  # wants 2: the minimum keeps none
    with CaptureQueriesContext(connection) as ctx:
        evaluate_all(now + timedelta(seconds=120))
    assert _holds(dep) == [2, 0]
    assert sum("deployments_minreplicahold" in q["sql"] for q in ctx.captured_queries) == 2


def test_min_zero_deployments_write_nothing(owner, world):  # noqa: F811
    dep = _deploy(owner, world, "zero", min_replicas=0)
    evaluate_all(timezone.now())
    assert _holds(dep) == []
