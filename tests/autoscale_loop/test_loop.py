"""The autoscaler tick against the database: decisions, applied counts, fixed queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestration.deployments.autoscale import evaluate_all, prune
from orchestration.deployments.models import Deployment, ScalingDecision, TrafficSample


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model):
    pool = make_nodepool(make_cluster(owner))
    model, version = make_model(owner)
    return pool, model, version


def _deploy(owner, world, slug, **kw):
    pool, model, version = world
    from orchestration.catalog.models import Model

    model = Model.objects.create(owner=owner, slug=f"m-{slug}")
    version.pk = None
    version.version_id = f"v{slug}"[:32]
    version.number = None
    version.model = model
    version.save()
    created = kw.pop("created", timezone.now() - timedelta(hours=1))
    dep = Deployment.objects.create(
        owner=owner, slug=slug, model=model, model_version=version, nodepool=pool, **kw
    )
    Deployment.objects.filter(pk=dep.pk).update(created_at=created)
    return dep


def _load(dep, now, seconds, in_flight):
    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment=dep,
            at=now - timedelta(seconds=s),
            interval_seconds=5,
            requests=int(in_flight * 5),
            in_flight=in_flight,
        )
        for s in range(0, seconds, 5)
    )


def test_scale_up_waits_for_the_delay_then_applies(owner, world):
    now = timezone.now()
    dep = _deploy(
        owner,
        world,
        "up",
        scale_up_delay_seconds=30,
        traffic_history_seconds=60,
        desired_replicas=1,
    )
    _load(dep, now, 60, 12.0)  # 12 in flight / target 4 = 3 replicas wanted
    assert evaluate_all(now) == []
    dep.refresh_from_db()
    assert dep.desired_replicas == 1
    first = ScalingDecision.objects.get(deployment=dep)
    assert (first.wanted, first.applied) == (3, 1)
    assert first.reason.startswith("hold")

    # Still wanted after the delay: applied, and recorded.
    later = now + timedelta(seconds=31)
    _load(dep, later, 30, 12.0)
    changes = evaluate_all(later)
    assert [(c.before, c.after) for c in changes] == [(1, 3)]
    dep.refresh_from_db()
    assert dep.desired_replicas == 3
    assert ScalingDecision.objects.filter(deployment=dep).count() == 2


def test_idle_deployment_scales_to_zero_after_its_delay(owner, world):
    now = timezone.now()
    _deploy(
        owner,
        world,
        "idle",
        min_replicas=0,
        desired_replicas=1,
        scale_down_delay_seconds=60,
        scale_to_zero_delay_seconds=120,
        created=now - timedelta(minutes=30),
    )
    changes = evaluate_all(now)
    assert [(c.before, c.after) for c in changes] == [(1, 0)]
    assert "zero" in changes[0].reason


def test_recent_traffic_keeps_the_last_replica(owner, world):
    now = timezone.now()
    dep = _deploy(
        owner,
        world,
        "busy",
        min_replicas=0,
        desired_replicas=1,
        scale_down_delay_seconds=60,
        scale_to_zero_delay_seconds=120,
        created=now - timedelta(minutes=30),
    )
    _load(dep, now - timedelta(seconds=100), 5, 1.0)
    assert evaluate_all(now) == []


def test_a_concurrent_change_is_not_overwritten(owner, world, monkeypatch):
    now = timezone.now()
    dep = _deploy(owner, world, "race", scale_up_delay_seconds=0, desired_replicas=1)
    _load(dep, now, 300, 8.0)
    from orchestration.deployments import autoscale

    real_apply = autoscale._apply

    def racing_apply(changes):
        # A cold start (or a user) changed the count between read and write.
        Deployment.objects.filter(pk=dep.pk).update(desired_replicas=4)
        return real_apply(changes)

    monkeypatch.setattr(autoscale, "_apply", racing_apply)
    assert evaluate_all(now) == []
    dep.refresh_from_db()
    assert dep.desired_replicas == 4


def test_query_count_does_not_grow_with_deployments(owner, world):
    now = timezone.now()

    def queries_for(n, offset):
        for i in range(n):
            dep = _deploy(owner, world, f"d{offset}-{i}", scale_up_delay_seconds=60)
            _load(dep, now, 30, float(i % 9))
        with CaptureQueriesContext(connection) as ctx:
            evaluate_all(now + timedelta(seconds=offset))
        return len(ctx.captured_queries)

    small = queries_for(3, 0)
    large = queries_for(30, 1)
    assert small == large


def test_prune_keeps_the_latest_decision(owner, world):
    now = timezone.now()
    dep = _deploy(owner, world, "old")
    old = now - timedelta(hours=5)
    for minutes in (0, 10):
        ScalingDecision.objects.create(
            deployment=dep, at=old + timedelta(minutes=minutes), wanted=1, applied=1, reason="x"
        )
    TrafficSample.objects.create(
        deployment=dep, at=old, interval_seconds=5, requests=1, in_flight=1
    )
    prune()
    assert list(ScalingDecision.objects.values_list("at", flat=True)) == [
        old + timedelta(minutes=10)
    ]
    assert not TrafficSample.objects.exists()
