"""Starts cut off by a worker's death: given back by its next life, or failed when stale."""

from __future__ import annotations

from datetime import timedelta

import docker
import pytest
from django.conf import settings
from django.utils import timezone

from orchestration.deployments import containers, lifecycle, reconcile, tasks
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.nodepools.models import NodeStatus
from tests.conftest import requires_docker

pytestmark = [requires_docker, pytest.mark.docker]
ENGINE = "unix:///var/run/docker.sock"


@pytest.fixture
def engine():
    client = docker.DockerClient(base_url=ENGINE)
    yield client
    for c in client.containers.list(
        all=True, filters={"label": f"{containers.LABEL_INSTANCE}={settings.INSTANCE_ID}"}
    ):
        if c.labels.get("test") == "interrupted-starts":
            c.remove(force=True)
    client.close()


@pytest.fixture
def deployment(owner, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner), cpu_cores=4, memory_bytes=4 * 1024**3)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = make_model(owner)
    return make_deployment(owner, model, version, pool, slug="dep", desired_replicas=1)


def _starting(deployment, claimed_by: str, claimed_at) -> Replica:
    return Replica.objects.create(
        deployment=deployment,
        model_version=deployment.model_version,
        node=deployment.nodepool.nodes.get(),
        state=ReplicaState.STARTING,
        claimed_by=claimed_by,
        claimed_at=claimed_at,
    )


def _container_for(engine, replica: Replica):
    """A container as a start cut off after `docker run` leaves it: the row never knew."""
    return engine.containers.run(
        settings.BASE_IMAGE,
        ["sleep", "300"],
        detach=True,
        labels={
            **containers.container_labels(replica.deployment_id),
            containers.LABEL_REPLICA: str(replica.pk),
            "test": "interrupted-starts",
        },
    )


def test_the_next_life_of_a_worker_gives_back_its_cut_off_starts(deployment, engine, monkeypatch):
    reconciled = []
    monkeypatch.setattr(tasks.reconcile_deployment, "delay", reconciled.append)
    ready_at = timezone.now()
    cut_off = _starting(deployment, "celery@host", ready_at - timedelta(seconds=5))
    container = _container_for(engine, cut_off)
    other_worker = _starting(deployment, "celery@elsewhere", ready_at - timedelta(seconds=5))
    # Claimed by the new life itself, after it said it was ready: not touched.
    own = _starting(deployment, "celery@host", ready_at + timedelta(seconds=1))

    assert tasks.recover_interrupted_starts("celery@host", ready_at.isoformat()) == 1

    cut_off.refresh_from_db()
    assert cut_off.state == ReplicaState.PENDING
    assert cut_off.node is None and cut_off.claimed_by == "" and cut_off.container_id == ""
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(container.id)
    for untouched in (other_worker, own):
        untouched.refresh_from_db()
        assert untouched.state == ReplicaState.STARTING
    assert reconciled == [deployment.pk]
    assert deployment.events.filter(kind="replica_recovered").count() == 1
    # Run twice (a redelivered message): nothing more to do.
    assert tasks.recover_interrupted_starts("celery@host", ready_at.isoformat()) == 0


def test_a_start_older_than_any_honest_start_fails_and_loses_its_container(
    deployment, engine, monkeypatch
):
    """Its worker never came back under the same name: reconcile fails it and replaces it."""
    monkeypatch.setattr(tasks.reconcile_deployment, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(tasks.start_replica, "delay", lambda *a, **k: None)
    old = timezone.now() - timedelta(seconds=reconcile.start_deadline() + 60)
    stale = _starting(deployment, "celery@gone", old)
    container = _container_for(engine, stale)
    fresh = _starting(deployment, "celery@busy", timezone.now())

    tasks.reconcile_deployment(deployment.pk)

    stale.refresh_from_db()
    assert stale.state == ReplicaState.FAILED
    assert "never finished" in stale.last_error
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(container.id)
    fresh.refresh_from_db()
    assert fresh.state == ReplicaState.STARTING


def test_claiming_records_the_worker_and_the_time(deployment):
    replica = Replica.objects.create(deployment=deployment, model_version=deployment.model_version)
    claimed = lifecycle.claim_and_place(replica.pk, claimed_by="celery@host")
    assert claimed is not None and claimed.state == ReplicaState.STARTING
    assert claimed.claimed_by == "celery@host"
    assert timezone.now() - claimed.claimed_at < timedelta(seconds=10)
