"""A traffic flush runs the autoscaling tick at once (not up to AUTOSCALE_INTERVAL later),
at most once a second across processes (Redis) or per process (no Redis)."""

from __future__ import annotations

import os
import uuid

import pytest

from orchestration.deployments import actions, routing_state, tasks
from orchestration.predict import traffic

# transaction=True: on_commit runs at once, and flush() closes stale connections as it does
# in the router process.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["", "from-env"])
def kicks(request, settings, monkeypatch):
    url = request.param
    if url == "from-env":
        url = os.environ.get("REDIS_URL", "")
        if not url:
            pytest.skip("set REDIS_URL (the test command does)")
    settings.REDIS_URL = url
    settings.INSTANCE_ID = f"kick-{uuid.uuid4().hex[:8]}"  # a fresh Redis key per test
    routing_state._redis.cache_clear()
    monkeypatch.setattr(actions, "_last_kick", -1e9)
    queued: list[str] = []
    monkeypatch.setattr(tasks.autoscale_all, "delay", lambda: queued.append("tick"))
    yield queued
    routing_state._redis.cache_clear()


def test_one_tick_per_second_however_many_flushes(kicks, monkeypatch):
    actions.request_autoscale()
    actions.request_autoscale()
    assert kicks == ["tick"]
    # A second later the next flush kicks again.
    monkeypatch.setattr(actions.time, "monotonic", lambda: 1e12)
    if routing_state.redis_client() is not None:
        routing_state.redis_client().delete(
            f"orchestration:{actions.settings.INSTANCE_ID}:autoscale-kick"
        )
    actions.request_autoscale()
    assert kicks == ["tick", "tick"]


def test_a_flush_that_wrote_traffic_kicks_the_tick(kicks, owner, world_deployment):
    assert traffic.flush() == 0 and kicks == []  # nothing recorded: no tick
    traffic.started(world_deployment.pk)
    traffic.finished(world_deployment.pk)
    assert traffic.flush() == 1
    assert kicks == ["tick"]


@pytest.fixture
def world_deployment(owner, make_cluster, make_nodepool, make_model, make_deployment):
    model, version = make_model(owner)
    return make_deployment(owner, model, version, make_nodepool(make_cluster(owner)), "d")
