"""The node health probe, run by a real Celery worker process through the real broker."""

import pytest

from orchestration.nodepools.models import Node, NodeStatus
from orchestration.nodepools.tasks import probe_node
from tests.conftest import requires_docker, wait_for


@requires_docker
@pytest.mark.celery
def test_probe_node_through_a_real_worker(
    celery_worker_process, owner, make_cluster, make_nodepool, make_node
):
    pool = make_nodepool(make_cluster(owner))
    alive = make_node(pool, "alive", engine_url="unix:///var/run/docker.sock")
    dead = make_node(pool, "dead", engine_url="unix:///var/run/no-such-docker.sock")

    probe_node.delay(alive.pk)
    probe_node.delay(dead.pk)

    def settled():
        statuses = dict(Node.objects.values_list("name", "status"))
        return statuses == {"alive": NodeStatus.READY, "dead": NodeStatus.UNREACHABLE}

    wait_for(settled, timeout=60, message="the worker to probe both nodes")
    alive.refresh_from_db()
    dead.refresh_from_db()
    assert alive.engine_version and alive.last_seen is not None
    assert "no-such-docker.sock" in dead.status_message or dead.status_message
