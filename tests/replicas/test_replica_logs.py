"""Replica logs on real Docker: what a replica's model prints reaches the portal, the API
and the download, and a stopped container's log stays readable until it is removed."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from django.test import Client

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments import logs
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.nodepools.models import NodeStatus
from tests.conftest import reconcile_until_ready, requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"
ECHO_LOG = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "echo-log"


@pytest.fixture
def echo(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner), cpu_cores=2)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
    model, version = version_from_example(owner, ECHO_LOG)
    dep = make_deployment(
        owner, model, version, pool, slug="echo", min_replicas=1, desired_replicas=1
    )
    extra: list[str] = []
    yield dep, extra
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)
    for container_id in extra:
        docker_engine.stop_and_remove(ENGINE, container_id, timeout=1)


def _texts(log: logs.ReplicaLog) -> list[str]:
    assert not log.error, log.error
    return [line.text for line in log.lines]


def test_what_the_model_prints_is_read_from_its_container(asgi_server, owner, owner_client, echo):
    dep, extra = echo
    reconcile_until_ready(dep)
    replica = dep.replicas.select_related("node").get(state=ReplicaState.READY)
    token = f"hello-{uuid.uuid4().hex[:12]}"
    key = AccessToken.issue(owner, "tests")[1]
    answer = httpx.post(
        f"{asgi_server}/v2/users/me/deployments/{dep.slug}/outputs",
        headers={"Authorization": f"Key {key}"},
        json={"inputs": [{"data": {"text": {"raw": token}}}]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    # stdout and stderr, in order, each stamped by the engine.
    texts = wait_for(
        lambda: (t := _texts(logs.read_log(replica))) and f"echo-log: {token}" in t and t,
        timeout=15,
        message="the model's print in the replica's log",
    )
    assert texts.index("echo-log: loaded") < texts.index(f"echo-log: {token}")
    assert f"echo-log stderr: {len(token)} characters" in texts
    first = logs.read_log(replica)
    assert all(line.at_ns for line in first.lines)
    assert logs.read_log(replica, since_ns=first.lines[-1].at_ns).lines == []

    api = Client()
    body = api.get(
        f"/api/v1/deployments/echo/logs/?replica={replica.pk}&tail=50",
        headers={"Authorization": f"Key {key}"},
    ).json()
    assert f"echo-log: {token}" in [line["text"] for line in body["lines"]]
    assert body["replicas"][0]["following"] is True

    download = owner_client.get(f"/deployments/echo/logs/{replica.pk}.log")
    assert download.status_code == 200
    assert f"Z echo-log: {token}\n" in download.content.decode()

    # A container that stopped keeps its log until it is removed: here one outside the
    # deployment's labels, so that reconcile leaves it alone, as a failed replica's.
    container = docker_engine.run_replica(
        ENGINE,
        image=dep.model_version.image,
        name=f"logs-test-{uuid.uuid4().hex[:10]}",
        labels={},
        cpu=0.25,
        memory_bytes=64 * 1024**2,
    )
    extra.append(container.id)
    wait_for(
        lambda: (
            "echo-log: loaded"
            in [line.text for line in docker_engine.container_log(ENGINE, container.id)]
        ),
        timeout=30,
        message="the second container's model to load",
    )
    docker_engine.kill(ENGINE, container.id)
    wait_for(lambda: not docker_engine.inspect_container(ENGINE, container.id).running)
    failed = Replica.objects.create(
        deployment=dep,
        model_version=dep.model_version,
        node=replica.node,
        container_id=container.id,
        state=ReplicaState.FAILED,
    )
    past = logs.read_log(failed)
    assert "echo-log: loaded" in _texts(past) and not past.following
    docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)
    gone = logs.read_log(failed)
    assert gone.gone and "is gone from local" in gone.error
