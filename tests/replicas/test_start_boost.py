"""A starting replica may use REPLICA_START_CPU until it answers ready; it serves within
its own CPU limit."""

from __future__ import annotations

import docker
import pytest

from orchestration import docker_engine
from orchestration.deployments import health, lifecycle
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.deployments.tasks import reconcile_deployment
from tests.conftest import requires_docker, wait_for

ENGINE = "unix:///var/run/docker.sock"


def _cpu(container_id: str) -> tuple[int, int]:
    host = docker.APIClient(base_url=ENGINE).inspect_container(container_id)["HostConfig"]
    return host["CpuQuota"], host["CpuPeriod"]


@requires_docker
@pytest.mark.docker
@pytest.mark.celery
def test_a_ready_replica_runs_within_its_own_cpu_limit(deployment, settings):
    assert settings.REPLICA_START_CPU == 1.0
    reconcile_deployment.delay(deployment.pk)
    wait_for(
        lambda: deployment.replicas.filter(state=ReplicaState.READY).count() == 2,
        timeout=90,
        message="two ready replicas",
    )
    cpu = deployment.model_version.requested_cpu()
    assert cpu == 0.5  # examples/sentiment asks for 500m
    for replica in deployment.replicas.filter(state=ReplicaState.READY):
        assert _cpu(replica.container_id) == (50_000, 100_000)


class FakeEngine:
    """The engine calls of a start, recorded (with the replica's state at the limit
    call); `limit_cpu` can be made to fail."""

    def __init__(self, limit_error: Exception | None = None):
        self.calls: list[tuple] = []
        self.limit_error = limit_error

    def run_replica(self, url, **kw):
        self.calls.append(("run", kw["cpu"], kw["start_cpu"]))
        return docker_engine.ContainerInfo(
            id="c1", name=kw["name"], status="running", host_port=32000
        )

    def limit_cpu(self, url, container_id, cpu):
        state = Replica.objects.get(container_id=container_id).state
        self.calls.append(("limit", cpu, state))
        if self.limit_error:
            raise self.limit_error

    def stop_and_remove(self, url, container_id, timeout=10):
        self.calls.append(("remove", container_id))


@pytest.fixture
def fake_start(monkeypatch, owner, make_cluster, make_nodepool, make_node, make_model):
    def make(limit_error=None):
        engine = FakeEngine(limit_error)
        for name in ("run_replica", "limit_cpu", "stop_and_remove"):
            monkeypatch.setattr(docker_engine, name, getattr(engine, name))
        monkeypatch.setattr(docker_engine, "container_logs", lambda *a, **k: "")
        monkeypatch.setattr(lifecycle, "ensure_image", lambda node, image: None)
        monkeypatch.setattr(health, "wait_until_ready", lambda *a: "")
        monkeypatch.setattr(lifecycle, "_route", lambda node, c, published: (published, False))
        pool = make_nodepool(make_cluster(owner))
        make_node(pool, "n1", engine_url="tcp://10.1.2.3:2376", address="10.1.2.3", status="ready")
        model, version = make_model(owner, image="orchestration/sentiment:x")
        version.cpu_request = "0.25"
        version.save()
        from orchestration.deployments.models import Deployment

        dep = Deployment.objects.create(
            owner=owner, slug="boost", model=model, model_version=version, nodepool=pool
        )
        replica = Replica.objects.create(deployment=dep, model_version=version)
        return engine, replica

    return make


@pytest.mark.django_db
def test_the_boost_ends_once_the_replica_is_ready(fake_start, settings):
    settings.REPLICA_START_CPU = 1.0
    engine, replica = fake_start()
    lifecycle.start(replica.pk)
    replica.refresh_from_db()
    assert replica.state == ReplicaState.READY
    assert engine.calls == [("run", 0.25, 1.0), ("limit", 0.25, ReplicaState.READY)]


@pytest.mark.django_db
def test_no_boost_call_when_turned_off(fake_start, settings):
    settings.REPLICA_START_CPU = 0.0
    engine, replica = fake_start()
    lifecycle.start(replica.pk)
    replica.refresh_from_db()
    assert replica.state == ReplicaState.READY
    assert engine.calls == [("run", 0.25, 0.0)]


@pytest.mark.django_db
def test_a_replica_whose_limit_cannot_be_set_fails_and_its_container_goes(fake_start, settings):
    settings.REPLICA_START_CPU = 1.0
    engine, replica = fake_start(docker_engine.EngineError("tcp://10.1.2.3:2376", "update refused"))
    lifecycle.start(replica.pk)
    replica.refresh_from_db()
    assert replica.state == ReplicaState.FAILED
    assert (
        "could not set the container's CPU limit after its start: tcp://10.1.2.3:2376: update refused"
        in (replica.last_error)
    )
    assert engine.calls[-1] == ("remove", "c1")
