"""A load step reaches the autoscaler early, and a held scale-up is decided again the
moment its delay ends (not at the next beat)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.autoscaling.policy import AutoscaleSettings, Decision, TrafficPoint, decide
from orchestration.deployments import autoscale, routing_state, tasks
from orchestration.predict import traffic
from tests.autoscale_loop.test_loop import _deploy, _load


class Clock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_001.0  # just past a bucket boundary

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def clock(monkeypatch):
    now = Clock()
    monkeypatch.setattr(traffic.time, "monotonic", lambda: now.mono)
    monkeypatch.setattr(traffic.time, "time", lambda: now.wall)
    monkeypatch.setattr(traffic, "_counters", {})
    return now


def _in_flight(deployment_id: int, count: int) -> None:
    for _ in range(count):
        traffic.started(deployment_id)


def test_a_load_step_is_written_early_and_light_load_once_per_flush(clock, monkeypatch):
    monkeypatch.setattr(traffic, "_ensure_flusher", lambda: None)
    _in_flight(1, 16)  # a step: sixteen in flight at once
    _in_flight(2, 1)  # light, steady
    clock.advance(0.5)
    early = traffic.take(early_only=True)
    assert [(d, round(avg)) for d, _, _, avg, *_ in early] == [(1, 16)]
    # Half a second later the unwritten half second is no more than what was written.
    clock.advance(0.5)
    assert traffic.take(early_only=True) == []
    # Another half second: what is unwritten (3.2) exceeds what was written (1.6).
    clock.advance(0.5)
    assert [d for d, *_ in traffic.take(early_only=True)] == [1]
    # Not doubled half a second on, but a second on it goes anyway.
    clock.advance(0.5)
    assert traffic.take(early_only=True) == []
    clock.advance(0.5)
    assert [d for d, *_ in traffic.take(early_only=True)] == [1]
    # The light deployment waits for the regular flush, which takes both.
    clock.advance(0.5)
    assert sorted(d for d, *_ in traffic.take()) == [1, 2]
    # A new bucket: the step's deployment is written early again as it fills.
    clock.advance(3.0)
    assert [d for d, *_ in traffic.take(early_only=True)] == [1]


def test_a_hold_on_the_delay_says_when_it_would_act():
    settings = AutoscaleSettings(
        min_replicas=1,
        max_replicas=4,
        target_concurrency=4,
        scale_up_delay_seconds=30,
        traffic_history_seconds=10,
    )
    busy = [TrafficPoint(at=float(t), in_flight=12.0, requests=60) for t in range(0, 125, 5)]
    history = [Decision(at=90.0, wanted=3, applied=1, reason="hold")]
    decision = decide(settings, 100.0, 1, busy, history)
    assert decision.applied == 1 and decision.acts_in == pytest.approx(20.0)
    assert decide(settings, 120.0, 1, busy, history).applied == 3
    steady = decide(settings, 100.0, 3, busy, [])
    assert steady.acts_in is None


@pytest.fixture
def due_claims(settings):
    settings.INSTANCE_ID = f"due-{uuid.uuid4().hex[:8]}"
    routing_state._redis.cache_clear()
    autoscale._due_at = 0.0
    yield
    routing_state._redis.cache_clear()


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model):
    model, version = make_model(owner)
    return make_nodepool(make_cluster(owner)), model, version


@pytest.mark.django_db
def test_the_tick_queues_another_for_when_the_delay_ends(owner, world, due_claims, monkeypatch):
    queued: list[float] = []
    monkeypatch.setattr(
        tasks.autoscale_all, "apply_async", lambda countdown: queued.append(countdown)
    )
    monkeypatch.setattr(tasks.reconcile_deployment, "delay", lambda pk: None)
    dep = _deploy(
        owner,
        world,
        "step",
        scale_up_delay_seconds=6,
        traffic_history_seconds=10,
        desired_replicas=1,
    )
    _load(dep, timezone.now(), 10, 12.0)
    assert tasks.autoscale_all() == 0
    assert len(queued) == 1 and 5.5 < queued[0] <= 6.1
    # Another tick before then: that one is already queued.
    assert tasks.autoscale_all() == 0
    assert len(queued) == 1
    # A sooner end queues its own.
    assert autoscale.claim_due_tick(1.0)
    assert not autoscale.claim_due_tick(3.0)
    # When the delay has passed, the queued tick scales up.
    later = timezone.now() + timedelta(seconds=6.1)
    _load(dep, later, 10, 12.0)
    [change] = autoscale.evaluate_all(later)
    assert change.before == 1 and change.after > 1


@pytest.mark.django_db
def test_a_cold_start_for_a_deployment_being_deleted_starts_nothing(owner, world):
    from orchestration.deployments.actions import request_cold_start
    from orchestration.deployments.models import Deployment, DeploymentStatus

    dep = _deploy(owner, world, "gone", desired_replicas=0, min_replicas=0)
    Deployment.objects.filter(pk=dep.pk).update(status=DeploymentStatus.DELETING)
    assert request_cold_start(dep.pk) is False
    assert request_cold_start(dep.pk + 1000) is False
    dep.refresh_from_db()
    assert dep.desired_replicas == 0
