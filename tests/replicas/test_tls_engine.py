"""A node at tcp://host:2376 with mutual TLS, as remote nodes are run: against a real engine.

scripts/start-second-engine makes a throwaway CA and has the second engine listen on
tcp://127.0.0.1:2376 with --tlsverify; scripts/test exports where.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import ReplicaState
from orchestration.deployments.tasks import reconcile_deployment
from orchestration.nodepools.models import Node, NodeStatus
from orchestration.nodepools.tasks import probe_node
from tests.conftest import requires_docker, wait_for

TLS_URL = os.environ.get("NODE2_TLS_URL", "")
TLS_DIR = Path(os.environ.get("NODE2_TLS_DIR", "/nonexistent"))
SOCKET_URL = os.environ.get("NODE2_DOCKER_URL", "unix:///var/run/docker-node2.sock")

pytestmark = [
    requires_docker,
    pytest.mark.docker,
    pytest.mark.skipif(not TLS_URL, reason="no TLS engine (scripts/start-second-engine)"),
]


@pytest.fixture
def client_tls(settings, monkeypatch) -> dict[str, str]:
    """The DOCKER_TLS_* settings, here and (through the environment) in a worker process."""
    values = {
        "DOCKER_TLS_CA_CERT": str(TLS_DIR / "ca.pem"),
        "DOCKER_TLS_CLIENT_CERT": str(TLS_DIR / "cert.pem"),
        "DOCKER_TLS_CLIENT_KEY": str(TLS_DIR / "key.pem"),
    }
    for name, value in values.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def tls_node(owner, make_cluster, make_nodepool, make_node) -> Node:
    pool = make_nodepool(make_cluster(owner, "remote"), "tls", cpu_cores=2)
    return make_node(pool, "tls-1", engine_url=TLS_URL, cpu_capacity=2, status=NodeStatus.UNKNOWN)


def test_a_tls_node_is_probed_ready_with_the_client_certificate(client_tls, tls_node, monkeypatch):
    # Hosts often point requests at the system bundle; the engine's own CA must still win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert probe_node(tls_node.pk) == NodeStatus.READY
    tls_node.refresh_from_db()
    assert tls_node.status == NodeStatus.READY and tls_node.engine_version


@pytest.mark.parametrize(
    "tls, reason",
    [
        ({}, "HTTP request to an HTTPS server"),
        ({"DOCKER_TLS_CA_CERT": "ca.pem"}, "BAD_CERTIFICATE"),  # the engine wants a client cert
        (
            {
                "DOCKER_TLS_CA_CERT": "/etc/ssl/certs/ca-certificates.crt",
                "DOCKER_TLS_CLIENT_CERT": "cert.pem",
                "DOCKER_TLS_CLIENT_KEY": "key.pem",
            },
            "CERTIFICATE_VERIFY_FAILED",  # the engine's certificate is not from a public CA
        ),
    ],
)
def test_a_tls_node_without_the_right_certificates_is_unreachable_with_the_reason(
    settings, tls_node, tls, reason
):
    for name in ("DOCKER_TLS_CA_CERT", "DOCKER_TLS_CLIENT_CERT", "DOCKER_TLS_CLIENT_KEY"):
        value = tls.get(name, "")
        setattr(settings, name, str(TLS_DIR / value) if value and "/" not in value else value)
    assert probe_node(tls_node.pk) == NodeStatus.UNREACHABLE
    tls_node.refresh_from_db()
    assert tls_node.status == NodeStatus.UNREACHABLE
    assert reason in tls_node.status_message


@pytest.mark.django_db(transaction=True)  # the worker process must see committed rows
def test_a_replica_runs_on_a_tls_node(
    client_tls, request, owner, tls_node, version_from_example, make_deployment
):
    # Started after client_tls, so the worker process inherits the DOCKER_TLS_* variables.
    request.getfixturevalue("celery_worker_process")
    Node.objects.filter(pk=tls_node.pk).update(status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, tls_node.nodepool, slug="over-tls")
    try:
        reconcile_deployment.delay(dep.pk)
        replica = wait_for(
            lambda: dep.replicas.filter(state=ReplicaState.READY).select_related("node").first(),
            timeout=180,
            message="a ready replica on the TLS node",
        )
        assert replica.node.engine_url == TLS_URL
        # The container is on the second engine, seen the same through its socket.
        on_node2 = docker_engine.list_containers(SOCKET_URL, container_labels(dep.pk))
        assert [c.id for c in on_node2] == [replica.container_id]
        response = httpx.post(
            f"http://{replica.address}/predict",
            json={"inputs": [{"text": {"raw": "a wonderful, lovely day"}}]},
            timeout=10,
        )
        assert response.json()["outputs"][0]["concepts"][0]["id"] == "positive"
    finally:
        for c in docker_engine.list_containers(SOCKET_URL, container_labels(dep.pk)):
            docker_engine.stop_and_remove(SOCKET_URL, c.id, timeout=1)
