"""Accelerators against the real engine: the exact device request a replica's container
is created with, the clear failure when the engine has no NVIDIA driver (these machines
have none), and what the node probe learns from `docker info`."""

from __future__ import annotations

import time

import docker
import pytest

from orchestration import docker_engine
from orchestration.deployments import lifecycle
from orchestration.deployments.containers import container_labels, replica_container_spec
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.nodepools.models import Node, NodeStatus
from orchestration.nodepools.tasks import probe_node
from tests.conftest import requires_docker

ENGINE = "unix:///var/run/docker.sock"

pytestmark = [requires_docker, pytest.mark.django_db]


@pytest.fixture
def gpu_deployment(
    owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment
):
    pool = make_nodepool(
        make_cluster(owner),
        slug="gpu-pool",
        cpu_cores=4,
        accelerators=2,
        accelerator_type="NVIDIA A10G",
    )
    make_node(
        pool, "gpu-1", engine_url=ENGINE, cpu_capacity=4, accelerators=2, status=NodeStatus.READY
    )
    model, version = version_from_example(owner, "sentiment")
    version.num_accelerators = 1
    version.config = {
        **version.config,
        "inference_compute_info": {"num_accelerators": 1, "accelerator_type": ["NVIDIA-A10G"]},
    }
    version.save()
    dep = make_deployment(
        owner, model, version, pool, slug="gpu", min_replicas=0, desired_replicas=0
    )
    yield dep
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)


def new_replica(dep) -> Replica:
    return Replica.objects.create(deployment=dep, model_version=dep.model_version)


def test_created_container_requests_exactly_the_assigned_devices(gpu_deployment):
    first = lifecycle.claim_and_place(new_replica(gpu_deployment).pk)
    second = lifecycle.claim_and_place(new_replica(gpu_deployment).pk)
    assert (first.accelerator_ids, second.accelerator_ids) == (["0"], ["1"])

    # Both devices held, no sharing: the third waits, saying why.
    third = new_replica(gpu_deployment)
    assert lifecycle.claim_and_place(third.pk) is None
    third.refresh_from_db()
    assert third.state == ReplicaState.PENDING
    assert third.pending_reason == "needs 1 nvidia-a10g; the most free on a node of gpu-pool is 0"

    # The container start() would run, created (a GPU-less engine cannot start it).
    container_id = docker_engine.create_replica(
        ENGINE, **replica_container_spec(second, time.time())
    )
    try:
        attrs = docker.from_env().api.inspect_container(container_id)
    finally:
        docker_engine.stop_and_remove(ENGINE, container_id, timeout=0)
    assert attrs["HostConfig"]["DeviceRequests"] == [
        {
            "Driver": "nvidia",
            "Count": 0,
            "DeviceIDs": ["1"],
            "Capabilities": [["gpu"]],
            "Options": {},
        }
    ]
    env = attrs["Config"]["Env"]
    assert "NVIDIA_VISIBLE_DEVICES=1" in env
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env


def test_a_replica_without_accelerators_gets_no_device_request(gpu_deployment):
    version = gpu_deployment.model_version
    version.num_accelerators = 0
    version.save()
    replica = lifecycle.claim_and_place(new_replica(gpu_deployment).pk)
    assert replica.accelerator_ids == []
    container_id = docker_engine.create_replica(
        ENGINE, **replica_container_spec(replica, time.time())
    )
    try:
        attrs = docker.from_env().api.inspect_container(container_id)
    finally:
        docker_engine.stop_and_remove(ENGINE, container_id, timeout=0)
    assert not attrs["HostConfig"].get("DeviceRequests")
    assert not any(e.startswith("NVIDIA_") for e in attrs["Config"]["Env"])


def test_start_without_a_gpu_driver_fails_the_replica_with_the_engines_reason(gpu_deployment):
    replica = new_replica(gpu_deployment)
    again = lifecycle.start(replica.pk)
    assert again is not None and again.deployment_id == gpu_deployment.pk
    replica.refresh_from_db()
    assert replica.state == ReplicaState.FAILED
    assert replica.accelerator_ids == ["0"]
    assert replica.last_error.startswith("could not start the container: ")
    assert 'could not select device driver "nvidia"' in replica.last_error
    assert "node gpu-1 needs the NVIDIA driver and container toolkit for accelerator 0" in (
        replica.last_error
    )
    assert "Traceback" not in replica.last_error
    # Nothing left behind, and the failed replica no longer holds device 0.
    labels = container_labels(gpu_deployment.pk)
    assert docker_engine.list_containers(ENGINE, labels=labels) == []
    assert lifecycle.claim_and_place(new_replica(gpu_deployment).pk).accelerator_ids == ["0"]


def test_probe_of_an_engine_that_reports_no_devices_keeps_the_configured_count(gpu_deployment):
    node = Node.objects.get(name="gpu-1")
    assert probe_node(node.pk) == NodeStatus.READY
    node.refresh_from_db()
    runtimes = docker.from_env().info().get("Runtimes") or {}
    assert node.accelerators == 2 and node.accelerator_ids == []
    assert node.device_ids == ["0", "1"]
    assert node.accelerator_driver == ("nvidia" if "nvidia" in runtimes else "")


def test_probe_takes_the_engines_cdi_devices(gpu_deployment, monkeypatch):
    node = Node.objects.get(name="gpu-1")
    real_ping = docker_engine.ping

    def ping_with_devices(url, **kw):
        info = real_ping(url, **kw)
        devices = ("nvidia.com/gpu=0", "nvidia.com/gpu=GPU-1234", "nvidia.com/gpu=all")
        return type(info)(**{**info.__dict__, "devices": devices})

    monkeypatch.setattr(docker_engine, "ping", ping_with_devices)
    probe_node(node.pk)
    node.refresh_from_db()
    assert (node.accelerators, node.accelerator_ids, node.accelerator_driver) == (
        1,
        ["0"],
        "nvidia",
    )
