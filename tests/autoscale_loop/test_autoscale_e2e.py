"""Autoscaling end to end: real traffic through the predict API moves real containers.

Short delays (seconds) stand in for the defaults (minutes); the autoscaler ticks every
second in a thread, as beat would run it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import ReplicaState, ScalingDecision, TrafficSample
from orchestration.deployments.tasks import autoscale_all, reconcile_deployment
from orchestration.nodepools.models import NodeStatus
from tests.conftest import requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"
SLOW_MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "slow"
UP, DOWN, TIMEFRAME, ZERO = 4, 6, 10, 24
# Once traffic stops, the average over TIMEFRAME decays and each step down waits DOWN:
# 3 -> 2 comes about 9 s later and 2 -> 1 about 13 s later. ZERO must leave room for both,
# or the scale-to-zero rule takes the deployment from 2 straight to 0 and "one replica"
# is never seen.


def _running(dep) -> int:
    return sum(c.running for c in docker_engine.list_containers(ENGINE, container_labels(dep.pk)))


def _decisions(dep):
    return list(ScalingDecision.objects.filter(deployment=dep).order_by("at", "pk"))


def test_load_scales_up_after_the_delay_then_down_then_to_zero_then_cold_starts(
    asgi_server,
    owner,
    make_cluster,
    make_nodepool,
    make_node,
    version_from_example,
    make_deployment,
):
    pool = make_nodepool(make_cluster(owner), cpu_cores=4)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = version_from_example(owner, SLOW_MODEL)
    dep = make_deployment(
        owner,
        model,
        version,
        pool,
        slug="elastic",
        min_replicas=0,
        max_replicas=3,
        desired_replicas=1,
        target_concurrency=1,
        scale_up_delay_seconds=UP,
        scale_down_delay_seconds=DOWN,
        traffic_history_seconds=TIMEFRAME,
        scale_to_zero_delay_seconds=ZERO,
    )
    key = AccessToken.issue(owner, "load")[1]
    url = f"{asgi_server}/v2/users/me/deployments/{dep.slug}/outputs"
    headers = {"Authorization": f"Key {key}"}

    ticking = threading.Event()
    ticking.set()

    def autoscaler():
        from django.db import connection

        try:
            while ticking.is_set():
                autoscale_all()
                time.sleep(1)
        finally:
            connection.close()

    loading = threading.Event()
    errors: list[str] = []

    def client():
        with httpx.Client(timeout=60) as http:
            while loading.is_set():
                r = http.post(
                    url, headers=headers, json={"inputs": [{"data": {"text": {"raw": "0.5"}}}]}
                )
                if r.status_code != 200:
                    errors.append(r.text)

    threads: list[threading.Thread] = []
    try:
        reconcile_deployment.delay(dep.pk)
        wait_for(
            lambda: _running(dep) == 1 and dep.replicas.filter(state="ready").exists(),
            timeout=90,
            message="the first replica",
        )
        tick = threading.Thread(target=autoscaler, daemon=True)
        threads.append(tick)
        tick.start()

        # Three clients, each holding a 0.5 s request in flight: 3 in flight / target 1.
        loading.set()
        clients = [threading.Thread(target=client) for _ in range(3)]
        for c in clients:
            c.start()
        wait_for(
            lambda: (
                _running(dep) == 3 and dep.replicas.filter(state=ReplicaState.READY).count() == 3
            ),
            timeout=120,
            message="three replicas under load",
        )
        decisions = _decisions(dep)
        first_wanting_more = next(d for d in decisions if d.wanted > 1)
        first_scale_up = next(d for d in decisions if d.applied > 1)
        assert (first_scale_up.at - first_wanting_more.at).total_seconds() >= UP

        # Traffic stops: fewer replicas after the scale-down delay, never below one ...
        loading.clear()
        for c in clients:
            c.join()
        stopped_at = time.monotonic()
        dep.refresh_from_db()
        wait_for(lambda: _running(dep) == 1, timeout=120, message="scale-in to one replica")
        decisions = _decisions(dep)
        peak = min(i for i, d in enumerate(decisions) if d.applied == 3)
        after = decisions[peak:]
        first_wanting_fewer = next(d for d in after if d.wanted < 3)
        first_scale_down = next(d for d in after if d.applied < 3)
        assert (first_scale_down.at - first_wanting_fewer.at).total_seconds() >= DOWN

        # ... and to zero once the scale-to-zero delay passed with no traffic at all.
        wait_for(lambda: _running(dep) == 0, timeout=120, message="scale to zero")
        last_traffic = TrafficSample.objects.filter(deployment=dep, requests__gt=0).latest("at")
        to_zero = next(d for d in reversed(_decisions(dep)) if d.applied == 0)
        assert (to_zero.at - last_traffic.at).total_seconds() >= ZERO
        assert time.monotonic() - stopped_at >= ZERO
        assert errors == []

        # A request now cold-starts a replica and succeeds.
        response = httpx.post(
            url, headers=headers, json={"inputs": [{"data": {"text": {"raw": "0"}}}]}, timeout=150
        )
        assert response.status_code == 200, response.text
        assert response.headers.get("x-cold-start") == "1"
    finally:
        loading.clear()
        ticking.clear()
        for thread in threads:
            thread.join(timeout=10)
        for c in docker_engine.list_containers(ENGINE, container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)
