"""An engine that is down: a clear status, nothing lost, convergence when it returns."""

from __future__ import annotations

import pytest

from orchestration.celery import app as celery_app
from orchestration.deployments.models import ReplicaState
from orchestration.deployments.tasks import reconcile_deployment
from orchestration.nodepools.models import Node, NodeStatus

DEAD = "unix:///var/run/no-such-engine.sock"


@pytest.fixture
def eager():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_unreachable_engine_marks_the_node_and_leaves_the_replica_pending(
    eager, owner, make_cluster, make_nodepool, make_node, make_model, make_deployment
):
    pool = make_nodepool(make_cluster(owner))
    node = make_node(pool, "down", engine_url=DEAD, status=NodeStatus.READY)
    model, version = make_model(owner, image="orchestration/sentiment:x")
    dep = make_deployment(owner, model, version, pool, min_replicas=1)

    # The first pass finds the engine gone and marks it; the retry carries on without it.
    reconcile_deployment.apply(args=(dep.pk,))
    node.refresh_from_db()
    assert node.status == NodeStatus.UNREACHABLE
    assert "no-such-engine.sock" in node.status_message

    reconcile_deployment.apply(args=(dep.pk,))
    replica = dep.replicas.get()
    assert replica.state == ReplicaState.PENDING
    assert replica.pending_reason == (
        "nodepool full: needs 1 CPU, 512Mi; no ready node in the nodepool"
    )
    dep.refresh_from_db()
    assert dep.status == "pending"
    assert dep.status_message == replica.pending_reason
    # Nothing was lost: the deployment and its settings are intact.
    assert dep.min_replicas == 1 and dep.model_version == version
    assert Node.objects.filter(pk=node.pk).exists()
