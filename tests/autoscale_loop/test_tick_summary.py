"""The tick's SQL traffic summary decides as the point list would, in a fixed number of queries."""

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestration.autoscaling.buckets import BUCKET_SECONDS, bucket_end
from orchestration.autoscaling.policy import decide, traffic_lookback_seconds
from orchestration.deployments import autoscale
from orchestration.deployments.autoscale import bucketed, evaluate_all, settings_of
from orchestration.deployments.models import Deployment, ScalingDecision, TrafficSample
from tests.autoscale_loop.test_loop import _deploy, _load, world  # noqa: F401


def _reference(dep, now):
    """The decision from the zero-filled point list, built in Python from every sample."""
    config = settings_of(dep)
    t_now = now.timestamp()
    start = max(dep.created_at.timestamp(), t_now - traffic_lookback_seconds(config))
    sums = defaultdict(lambda: [0.0, 0])
    for s in TrafficSample.objects.filter(
        deployment=dep, at__gt=now - timedelta(seconds=traffic_lookback_seconds(config))
    ).filter(at__lte=now):
        end = bucket_end(s.at.timestamp())
        sums[end][0] += s.in_flight * min(s.interval_seconds, BUCKET_SECONDS) / BUCKET_SECONDS
        sums[end][1] += s.requests
    traffic = bucketed(
        [(end, f, r) for end, (f, r) in sums.items()],
        start=start,
        now=t_now,
        dense_from=t_now - float(config.traffic_history_seconds) - BUCKET_SECONDS,
    )
    return decide(config, t_now, dep.desired_replicas, traffic, [])


@pytest.mark.parametrize("timeframe_columns", [8, 1], ids=["sum-per-timeframe", "joined"])
def test_sql_summary_decides_like_the_point_list(
    owner,
    world,  # noqa: F811
    monkeypatch,
    timeframe_columns,
):
    # Four distinct timeframes: a sum column each, or (over the limit) the joined form.
    monkeypatch.setattr(autoscale, "TIMEFRAME_COLUMNS", timeframe_columns)
    rng = random.Random(14)
    now = timezone.now()
    deps = []
    for i in range(24):
        age = rng.choice([15, 50, 3600])
        kw = {
            "min_replicas": rng.choice([0, 0, 1]),
            "max_replicas": 5,
            "desired_replicas": rng.choice([1, 2, 3]),
            "traffic_history_seconds": rng.choice([0, 20, 60, 300]),
            "scale_up_delay_seconds": 0,
            "scale_down_delay_seconds": rng.choice([0, 30]),
            "scale_to_zero_delay_seconds": rng.choice([40, 120]),
            "created": now - timedelta(seconds=age),
        }
        dep = _deploy(owner, world, f"s{i}", **kw)
        # Two web processes flushing at jittered moments since the deployment's creation,
        # with idle gaps.
        rows = []
        for process in range(2):
            at = rng.uniform(0, 5)
            while at < min(400, age):
                if rng.random() < 0.6:
                    rows.append(
                        TrafficSample(
                            deployment=dep,
                            at=now - timedelta(seconds=at),
                            interval_seconds=rng.choice([2.5, 5, 7]),
                            requests=rng.choice([0, 1, 9]),
                            in_flight=rng.choice([0.0, 0.5, 3.0, 11.0]),
                        )
                    )
                at += rng.uniform(1, 40) if process else 5
        TrafficSample.objects.bulk_create(rows)
        deps.append(Deployment.objects.get(pk=dep.pk))
    expected = {d.pk: _reference(d, now) for d in deps}
    evaluate_all(now)
    for d in deps:
        got = ScalingDecision.objects.get(deployment=d)
        want = expected[d.pk]
        assert (got.wanted, got.applied, got.reason) == (want.wanted, want.applied, want.reason)


def _tick_queries(now):
    with CaptureQueriesContext(connection) as ctx:
        evaluate_all(now)
    return len(ctx.captured_queries)


def test_tick_queries_do_not_grow_with_deployments(owner, world):  # noqa: F811
    now = timezone.now()
    few = [_deploy(owner, world, f"few{i}", traffic_history_seconds=60) for i in range(2)]
    for d in few:
        _load(d, now, 120, 9.0)
    small = _tick_queries(now)
    for i in range(10):
        _load(_deploy(owner, world, f"many{i}", traffic_history_seconds=60), now, 120, 9.0)
    # One more decision round over twelve deployments, same queries (new decisions again).
    assert _tick_queries(now + timedelta(seconds=1)) == small


def test_traffic_bucket_is_kept_by_the_database(owner, world):  # noqa: F811
    """The generated column agrees with `bucket_end` (the one rule), boundaries included."""
    dep = _deploy(owner, world, "bucket")
    base = timezone.now().replace(microsecond=0)
    offsets = [0, 0.0004, 0.0006, 0.5, 4.9995, 5.0, 5.0004, 7.25]
    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment=dep,
            at=base + timedelta(seconds=x),
            interval_seconds=5,
            requests=1,
            in_flight=1.0,
        )
        for x in offsets
    )
    for sample in TrafficSample.objects.filter(deployment=dep):
        assert sample.bucket == bucket_end(sample.at.timestamp()), sample.at
