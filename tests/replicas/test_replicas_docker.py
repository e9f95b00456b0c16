"""Replicas as real containers, driven by a real Celery worker through the real broker."""

from __future__ import annotations

import os
import threading

import httpx
import pytest

from orchestration import docker_engine
from orchestration.deployments.actions import request_delete
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment, Replica, ReplicaState
from orchestration.deployments.tasks import reconcile_deployment
from orchestration.nodepools.models import NodeStatus
from tests.conftest import requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"


def _containers(deployment: Deployment, url: str = ENGINE) -> list:
    return [
        c
        for c in docker_engine.list_containers(url, labels=container_labels(deployment.pk))
        if c.running
    ]


def _ready(deployment: Deployment) -> list[Replica]:
    return list(deployment.replicas.filter(state=ReplicaState.READY).select_related("node"))


def wait_until_replaced(deployment: Deployment, victim: Replica, replicas: int = 2) -> None:
    """Wait for `replicas` ready replicas and containers, `victim` not among them."""
    wait_for(
        lambda: (
            len(_ready(deployment)) == replicas
            and victim.pk not in {r.pk for r in _ready(deployment)}
            and len(_containers(deployment)) == replicas
        ),
        timeout=90,
        message="the killed replica to be replaced",
    )


def _predict(address: str, text: str) -> dict:
    response = httpx.post(
        f"http://{address}/predict", json={"inputs": [{"text": {"raw": text}}]}, timeout=10
    )
    response.raise_for_status()
    return response.json()["outputs"][0]


def test_deploy_kill_scale_delete(deployment):
    reconcile_deployment.delay(deployment.pk)
    wait_for(lambda: len(_ready(deployment)) == 2, timeout=90, message="two ready replicas")
    assert len(_containers(deployment)) == 2
    for replica in _ready(deployment):
        out = _predict(replica.address, "I love this, it is wonderful")
        assert out["concepts"][0]["id"] == "positive"
    deployment.refresh_from_db()
    assert deployment.status == "running"

    # Kill one container: reconcile notices and replaces it.
    victim = _ready(deployment)[0]
    docker_engine.kill(ENGINE, victim.container_id)
    reconcile_deployment.delay(deployment.pk)
    wait_until_replaced(deployment, victim)
    victim.refresh_from_db()
    assert victim.state == ReplicaState.FAILED
    assert deployment.events.filter(kind="replica_exited").exists()

    # Scale down to one: the newest drains and is removed.
    newest = max(_ready(deployment), key=lambda r: r.created_at)
    Deployment.objects.filter(pk=deployment.pk).update(
        min_replicas=1, max_replicas=1, desired_replicas=1
    )
    reconcile_deployment.delay(deployment.pk)
    # The container goes first and the row says stopped just after: wait for both.
    wait_for(
        lambda: (
            len(_containers(deployment)) == 1
            and len(_ready(deployment)) == 1
            and Replica.objects.get(pk=newest.pk).state == ReplicaState.STOPPED
        ),
        timeout=60,
        message="scale-in to one, the newest stopped",
    )
    assert newest.pk not in {r.pk for r in _ready(deployment)}

    # Delete: every container goes, then the row.
    request_delete(deployment)
    from orchestration.deployments.tasks import delete_deployment

    delete_deployment.delay(deployment.pk)
    wait_for(lambda: not Deployment.objects.filter(pk=deployment.pk).exists(), timeout=60)
    assert _containers(deployment) == []


def test_concurrent_reconciles_start_no_extra_containers(deployment):
    threads = [
        threading.Thread(target=reconcile_deployment.delay, args=(deployment.pk,)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: len(_ready(deployment)) == 2, timeout=90, message="two ready replicas")
    for _ in range(3):
        reconcile_deployment.delay(deployment.pk)
    import time

    time.sleep(3)
    assert len(_containers(deployment)) == 2
    assert deployment.replicas.filter(state__in=["pending", "starting", "ready"]).count() == 2


def test_full_nodepool_leaves_replica_pending_until_a_node_is_added(
    celery_worker_process,
    owner,
    make_cluster,
    make_nodepool,
    make_node,
    version_from_example,
    make_deployment,
):
    small = make_nodepool(make_cluster(owner, "tiny"), slug="tiny", cpu_cores=1)
    # The sentiment model asks for 500m CPU and 256Mi: this node has room for none.
    make_node(small, "small", engine_url=ENGINE, cpu_capacity="0.25", status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, small, slug="tiny-dep", min_replicas=1)
    try:
        reconcile_deployment.delay(dep.pk)

        def pending_reason():
            replica = dep.replicas.filter(state=ReplicaState.PENDING).first()
            return replica and replica.pending_reason

        reason = wait_for(pending_reason, timeout=30, message="a pending reason")
        assert reason.startswith("nodepool full: needs 500m CPU, 256Mi; largest free: 250m CPU")
        make_node(small, "bigger", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
        reconcile_deployment.delay(dep.pk)
        wait_for(lambda: len(_ready(dep)) == 1, timeout=90, message="placement on the new node")
        assert _ready(dep)[0].node.name == "bigger"
    finally:
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def test_failed_build_starts_nothing_and_says_why(
    celery_worker_process, owner, pool, make_model, make_deployment
):
    model, version = make_model(owner, "broken", status="failed")
    dep = make_deployment(owner, model, version, pool, slug="broken")
    reconcile_deployment.delay(dep.pk)
    wait_for(lambda: Deployment.objects.get(pk=dep.pk).status == "failed", timeout=30)
    dep.refresh_from_db()
    assert "build" in dep.status_message and "failed" in dep.status_message
    assert not dep.replicas.exists()


def test_version_rollover_keeps_a_ready_replica(
    celery_worker_process, owner, pool, version_from_example, make_deployment
):
    model, v1 = version_from_example(owner, "sentiment")
    _, v2 = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, v1, pool, slug="roll", min_replicas=1, max_replicas=1)
    try:
        reconcile_deployment.delay(dep.pk)
        wait_for(lambda: len(_ready(dep)) == 1, timeout=90, message="v1 ready")
        seen_zero = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                if not Replica.objects.filter(deployment=dep, state=ReplicaState.READY).exists():
                    seen_zero.append(True)
                stop.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        Deployment.objects.filter(pk=dep.pk).update(model_version=v2)
        reconcile_deployment.delay(dep.pk)
        try:
            wait_for(
                lambda: (
                    [r.model_version_id for r in _ready(dep)] == [v2.pk]
                    and len(_containers(dep)) == 1
                ),
                timeout=120,
                message="rollover to v2",
            )
        finally:
            stop.set()
            watcher.join()
        assert not seen_zero, "there was a moment with no ready replica"
    finally:
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


@pytest.mark.skipif(not os.environ.get("NODE2_DOCKER_URL"), reason="no second Docker engine")
def test_placement_across_two_engines(
    celery_worker_process,
    owner,
    make_cluster,
    make_nodepool,
    make_node,
    version_from_example,
    make_deployment,
):
    node2_url = os.environ["NODE2_DOCKER_URL"]
    pool = make_nodepool(make_cluster(owner, "multi"), slug="multi")
    # Each node fits exactly one replica of 500m CPU, so two replicas need both engines.
    make_node(pool, "one", engine_url=ENGINE, cpu_capacity="0.5", status=NodeStatus.READY)
    make_node(pool, "two", engine_url=node2_url, cpu_capacity="0.5", status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, pool, slug="multi", min_replicas=2)
    try:
        reconcile_deployment.delay(dep.pk)
        wait_for(lambda: len(_ready(dep)) == 2, timeout=180, message="two replicas on two nodes")
        assert {r.node.name for r in _ready(dep)} == {"one", "two"}
        assert len(_containers(dep, ENGINE)) == 1
        assert len(_containers(dep, node2_url)) == 1
        for replica in _ready(dep):
            assert _predict(replica.address, "awful")["concepts"][0]["id"] == "negative"
    finally:
        for url in (ENGINE, node2_url):
            for c in docker_engine.list_containers(url, labels=container_labels(dep.pk)):
                docker_engine.stop_and_remove(url, c.id, timeout=1)


def test_leftover_container_claiming_a_new_replica_is_removed_not_trusted(
    celery_worker_process, owner, pool, version_from_example, make_deployment
):
    """A container from an earlier life of the database (same ids) is an orphan."""
    from orchestration.deployments.containers import LABEL_REPLICA, LABEL_VERSION

    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, pool, slug="reuse", min_replicas=1)
    replica = Replica.objects.create(deployment=dep, model_version=version)
    stale = docker_engine.run_replica(
        ENGINE,
        image=version.image,
        name=f"stale-{dep.pk}-{replica.pk}",
        labels={**container_labels(dep.pk), LABEL_REPLICA: str(replica.pk), LABEL_VERSION: "old"},
        cpu=0.5,
        memory_bytes=256 * 1024**2,
    )
    docker_engine.kill(ENGINE, stale.id)
    try:
        reconcile_deployment.delay(dep.pk)
        wait_for(lambda: len(_ready(dep)) == 1, timeout=90, message="the replica to start")
        replica.refresh_from_db()
        assert replica.state == ReplicaState.READY
        assert replica.container_id != stale.id
        ids = {c.id for c in docker_engine.list_containers(ENGINE, container_labels(dep.pk))}
        assert stale.id not in ids
    finally:
        for c in docker_engine.list_containers(ENGINE, container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def test_replica_that_fails_to_start_is_failed_with_logs_and_retried_with_backoff(
    celery_worker_process, owner, pool, version_from_example, make_deployment
):
    from pathlib import Path

    broken = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "broken-load"
    model, version = version_from_example(owner, broken)
    dep = make_deployment(owner, model, version, pool, slug="broken-load", min_replicas=1)
    try:
        reconcile_deployment.delay(dep.pk)
        first = wait_for(
            lambda: dep.replicas.filter(state=ReplicaState.FAILED).first(),
            timeout=90,
            message="the first replica to fail",
        )
        assert "weights.bin is missing" in first.last_error
        # The next attempt waits (backoff) instead of looping at once.
        retry = wait_for(
            lambda: dep.replicas.filter(state=ReplicaState.PENDING, retry_at__isnull=False).first(),
            timeout=30,
            message="a pending retry with a backoff",
        )
        assert retry.retry_at > first.stopped_at
        assert dep.events.filter(kind="replica_failed").exists()
        assert _containers(dep) == []
    finally:
        for c in docker_engine.list_containers(ENGINE, container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)
