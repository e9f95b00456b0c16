"""A priced world: nodepool `cpu` at 1.00 USD per node-hour, nodes of 2 CPU, and a
model version asking 1 CPU, so a replica alone on a node costs 0.50 USD an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orchestration.deployments.models import Replica, ReplicaState
from tests.api.support import (  # noqa: F401 - fixtures
    anon_api,
    fast_password_hasher,
    other_api,
    other_key,
    owner_api,
    owner_key,
    queued_tasks,
)

# Mid-month, so the 24-hour window and the month differ; UTC is the test TIME_ZONE.
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def priced(owner, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    cluster = make_cluster(owner, "east")
    nodepool = make_nodepool(cluster, "cpu", cpu_cores=Decimal("2"), price_per_hour=Decimal("1.00"))
    node = make_node(nodepool, "node-1")
    model, version = make_model(owner, "sentiment")
    version.cpu_request = Decimal("1")
    version.save(update_fields=["cpu_request"])
    deployment = make_deployment(owner, model, version, nodepool, "sent", min_replicas=1)
    return {
        "cluster": cluster,
        "nodepool": nodepool,
        "node": node,
        "model": model,
        "version": version,
        "deployment": deployment,
    }


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def make_replica(deployment, node, *, started, stopped=None, state=None, version=None):
    """A replica that lived from `started` to `stopped` (None: still running)."""
    replica = Replica.objects.create(
        deployment=deployment,
        model_version=version or deployment.model_version,
        node=node,
        state=state or (ReplicaState.STOPPED if stopped else ReplicaState.READY),
    )
    Replica.objects.filter(pk=replica.pk).update(
        created_at=started - timedelta(seconds=5),
        started_at=started,
        ready_at=started + timedelta(seconds=5),
        stopped_at=stopped,
    )
    return replica
