"""Shared by the replica tests on real Docker: a local-engine nodepool and a deployment
of the sentiment example with two replicas, cleaned up whatever the test did."""

from __future__ import annotations

import pytest

from orchestration import docker_engine
from orchestration.deployments.containers import container_labels
from orchestration.nodepools.models import NodeStatus

ENGINE = "unix:///var/run/docker.sock"


@pytest.fixture
def pool(owner, make_cluster, make_nodepool, make_node):
    nodepool = make_nodepool(make_cluster(owner), cpu_cores=4, memory_bytes=4 * 1024**3)
    make_node(nodepool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    return nodepool


@pytest.fixture
def deployment(celery_worker_process, owner, pool, version_from_example, make_deployment):
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(
        owner, model, version, pool, slug="sent", min_replicas=2, max_replicas=3, desired_replicas=2
    )
    yield dep
    # Leave no containers behind, whatever the test did.
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)
