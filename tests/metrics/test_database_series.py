"""Series read from the database at scrape: replicas by state, desired/wanted, nodes."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from orchestration.deployments.models import Replica, ReplicaState, ScalingDecision
from orchestration.nodepools.models import NodeStatus
from tests.metrics.support import samples


def _scrape(client) -> dict:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    return samples(response.content.decode())


def _labels(**kw) -> tuple:
    return tuple(sorted(kw.items()))


def test_replicas_desired_wanted_and_nodes(
    client, owner, make_cluster, make_nodepool, make_node, make_model, make_deployment
):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=Decimal("4"))
    node = make_node(pool, "n1", cpu_capacity=Decimal("4"), status=NodeStatus.READY, accelerators=4)
    make_node(pool, "n2", cpu_capacity=Decimal("2"), status=NodeStatus.UNREACHABLE)
    model, version = make_model(owner, "sentiment")
    version.cpu_request = Decimal("0.5")
    version.memory_request_bytes = 256 * 1024**2
    version.num_accelerators = 1
    version.save()
    dep = make_deployment(owner, model, version, pool, slug="sent", max_replicas=4)
    dep.desired_replicas = 3
    dep.save()
    for state in (
        ReplicaState.READY,
        ReplicaState.READY,
        ReplicaState.STARTING,
        ReplicaState.STOPPED,
    ):
        Replica.objects.create(deployment=dep, model_version=version, node=node, state=state)
    ScalingDecision.objects.create(
        deployment=dep, at=timezone.now(), wanted=4, applied=3, reason="hold: scale-up delay"
    )

    scrape = _scrape(client)
    base = {"deployment": "sent", "owner": "owner", "model": "sentiment", "nodepool": "east/cpu"}
    assert scrape[("orchestration_replicas", _labels(**base, state="ready"))] == 2
    assert scrape[("orchestration_replicas", _labels(**base, state="starting"))] == 1
    assert scrape[("orchestration_replicas", _labels(**base, state="pending"))] == 0
    assert ("orchestration_replicas", _labels(**base, state="stopped")) not in scrape
    assert scrape[("orchestration_deployment_desired_replicas", _labels(**base))] == 3
    assert scrape[("orchestration_deployment_wanted_replicas", _labels(**base))] == 4
    assert scrape[("orchestration_deployment_max_replicas", _labels(**base))] == 4
    assert scrape[("orchestration_deployment_status", _labels(**base, status="pending"))] == 1

    n1 = _labels(node="n1", nodepool="east/cpu")
    assert scrape[("orchestration_node_up", n1)] == 1
    assert scrape[("orchestration_node_up", _labels(node="n2", nodepool="east/cpu"))] == 0
    assert scrape[("orchestration_node_cpu_capacity_cores", n1)] == 4
    # Three live replicas (the stopped one asks for nothing) at half a core each.
    assert scrape[("orchestration_node_cpu_used_cores", n1)] == 1.5
    assert scrape[("orchestration_node_cpu_free_cores", n1)] == 2.5
    assert scrape[("orchestration_node_memory_used_bytes", n1)] == 3 * 256 * 1024**2
    assert scrape[("orchestration_node_accelerators", n1)] == 4
    assert scrape[("orchestration_node_accelerators_used", n1)] == 3


def test_without_a_decision_wanted_is_the_desired_count(
    client, owner, make_cluster, make_nodepool, make_model, make_deployment
):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "sentiment")
    make_deployment(owner, model, version, pool, slug="sent", desired_replicas=1)
    scrape = _scrape(client)
    labels = _labels(deployment="sent", owner="owner", model="sentiment", nodepool="east/cpu")
    assert scrape[("orchestration_deployment_wanted_replicas", labels)] == 1


def test_a_scrape_costs_the_same_queries_at_any_size(
    client,
    owner,
    make_cluster,
    make_nodepool,
    make_node,
    make_model,
    make_deployment,
    django_assert_max_num_queries,
):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    make_node(pool, "n1")
    for i in range(12):
        model, version = make_model(owner, f"m{i}")
        dep = make_deployment(owner, model, version, pool, slug=f"d{i}")
        Replica.objects.create(deployment=dep, model_version=version, state=ReplicaState.READY)
    # Deployments with their latest decision, replica counts, nodes with their usage.
    with django_assert_max_num_queries(3):
        _scrape(client)
