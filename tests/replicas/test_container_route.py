"""Where the router reaches a replica: its container address on an engine of this host
(skipping Docker's userland proxy), else the published port."""

from __future__ import annotations

import time

import httpx
import pytest

from orchestration import docker_engine
from orchestration.deployments import health
from orchestration.deployments.lifecycle import _route
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.deployments.reconcile import fail
from orchestration.deployments.tasks import reconcile_deployment
from orchestration.predict.router import Backend, Router
from tests.conftest import requires_docker, wait_for

ENGINE = "unix:///var/run/docker.sock"


def _info(ip: str) -> docker_engine.ContainerInfo:
    return docker_engine.ContainerInfo(id="c", name="n", status="running", ip_address=ip)


@requires_docker
@pytest.mark.docker
@pytest.mark.celery
def test_a_replica_on_this_hosts_engine_is_reached_at_its_container_address(deployment):
    reconcile_deployment.delay(deployment.pk)
    wait_for(
        lambda: deployment.replicas.filter(state=ReplicaState.READY).count() == 2,
        timeout=90,
        message="two ready replicas",
    )
    for replica in deployment.replicas.filter(state=ReplicaState.READY):
        info = docker_engine.inspect_container(ENGINE, replica.container_id)
        assert replica.on_bridge
        assert replica.address == f"{info.ip_address}:{docker_engine.CONTAINER_PORT}"
        assert info.host_port, "the published port stays, for routers on other hosts"
        answer = httpx.post(
            f"http://{replica.address}/predict", json={"inputs": [{"text": {"raw": "great"}}]}
        )
        assert answer.status_code == 200


@pytest.mark.django_db
def test_the_published_port_when_the_container_address_is_not_for_this_host(
    owner, make_cluster, make_nodepool, make_node, settings
):
    pool = make_nodepool(make_cluster(owner))
    local = make_node(pool, "local", engine_url=ENGINE)
    remote = make_node(pool, "remote", engine_url="tcp://10.1.2.3:2376", address="10.1.2.3")
    published = "127.0.0.1:32001"
    # Another host's engine: its bridge is not reachable from here.
    assert _route(remote, _info("172.17.0.5"), "10.1.2.3:32001") == ("10.1.2.3:32001", False)
    # No address on a bridge (a container on the host network, say).
    assert _route(local, _info(""), published) == (published, False)
    # Turned off.
    settings.ROUTE_TO_CONTAINER_ADDRESS = False
    assert _route(local, _info("172.17.0.5"), published) == (published, False)
    settings.ROUTE_TO_CONTAINER_ADDRESS = True
    # An address nothing answers at (TEST-NET-1): the published port, after one short try.
    started = time.monotonic()
    assert _route(local, _info("192.0.2.1"), published) == (published, False)
    assert time.monotonic() - started < 2


def test_a_replica_that_refused_a_connection_sits_out_while_others_can_serve():
    router = Router()
    one, two = Backend(1, "a:1", on_bridge=True), Backend(2, "b:1")
    router._eject(1)
    assert {router._pick([one, two], set()).replica_id for _ in range(50)} == {2}
    # Alone, it is still tried: a refused connection may have been a blip.
    assert router._pick([one], set()) is one
    router._ejected[1] = time.monotonic() - 1
    assert {router._pick([one, two], set()).replica_id for _ in range(200)} == {1, 2}


def test_bridge_addresses_give_up_connecting_sooner():
    assert Backend(1, "a:1", on_bridge=True).connect_timeout < Backend(1, "a:1").connect_timeout


@pytest.mark.django_db
def test_a_failed_replica_is_not_probed_again_in_the_same_pass(
    owner, make_cluster, make_nodepool, make_model, make_deployment
):
    model, version = make_model(owner)
    dep = make_deployment(owner, model, version, make_nodepool(make_cluster(owner)), "d")
    replica = Replica.objects.create(
        deployment=dep,
        model_version=version,
        state=ReplicaState.READY,
        address="192.0.2.1:8080",
        on_bridge=True,
    )
    fail(replica, "container exited with code 137", event="replica_exited")
    # The pass that saw the exit goes on to health-check what is still ready: not this one.
    assert replica.state == ReplicaState.FAILED
    # And a bridge address nothing answers at is judged within a couple of seconds.
    started = time.monotonic()
    assert not health.healthy(replica.address, on_bridge=True)
    assert time.monotonic() - started < 3
