"""Series read from the database when `/metrics` is scraped: the state of things now.

Replica counts, desired and wanted replicas and node capacity are facts in the database
that every process shares, so they are read once per scrape (four grouped queries,
whatever the number of deployments) rather than kept in any process's counters.
"""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Subquery
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestration.deployments.models import (
    Deployment,
    DeploymentStatus,
    Replica,
    ReplicaState,
    ScalingDecision,
)
from orchestration.metrics.instruments import DEPLOYMENT_LABELS
from orchestration.nodepools.models import Node, NodeStatus

# Stopped replicas are history (they stay as rows for their lifetimes and costs).
EXPORTED_STATES = [s for s in ReplicaState.values if s != ReplicaState.STOPPED]
NODE_LABELS = ["node", "nodepool"]


def _gauge(name: str, doc: str, labels) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class DatabaseCollector(Collector):
    def collect(self):
        yield from _deployment_families()
        yield from _node_families()


def _deployment_families():
    latest = ScalingDecision.objects.filter(deployment=OuterRef("pk")).order_by("-at", "-pk")
    rows = (
        Deployment.objects.exclude(status=DeploymentStatus.DELETING)
        .annotate(wanted=Subquery(latest.values("wanted")[:1]))
        .values_list(
            "pk",
            "slug",
            "owner__username",
            "model__slug",
            "nodepool__cluster__slug",
            "nodepool__slug",
            "status",
            "desired_replicas",
            "min_replicas",
            "max_replicas",
            "wanted",
        )
        .order_by("pk")
    )
    counts: dict[tuple[int, str], int] = {
        (deployment_id, state): n
        for deployment_id, state, n in Replica.objects.exclude(state=ReplicaState.STOPPED)
        .values_list("deployment_id", "state")
        .annotate(n=Count("pk"))
        .order_by()
    }
    replicas = _gauge(
        "orchestration_replicas",
        "Replicas of a deployment by state (pending, starting, ready, draining, failed).",
        [*DEPLOYMENT_LABELS, "state"],
    )
    desired = _gauge(
        "orchestration_deployment_desired_replicas",
        "The replica count reconcile works towards (set by the autoscaler).",
        DEPLOYMENT_LABELS,
    )
    wanted = _gauge(
        "orchestration_deployment_wanted_replicas",
        "The replica count the autoscaler's latest decision wanted, before its delays.",
        DEPLOYMENT_LABELS,
    )
    low = _gauge(
        "orchestration_deployment_min_replicas", "The deployment's minimum.", DEPLOYMENT_LABELS
    )
    high = _gauge(
        "orchestration_deployment_max_replicas", "The deployment's maximum.", DEPLOYMENT_LABELS
    )
    status = _gauge(
        "orchestration_deployment_status",
        "1 for the deployment's current status (pending, deploying, running, idle, "
        "degraded, failed).",
        [*DEPLOYMENT_LABELS, "status"],
    )
    for pk, slug, owner, model, cluster, pool, state, want, lo, hi, latest_wanted in rows:
        labels = [slug, owner, model, f"{cluster}/{pool}"]
        for replica_state in EXPORTED_STATES:
            replicas.add_metric([*labels, replica_state], counts.get((pk, replica_state), 0))
        desired.add_metric(labels, want)
        wanted.add_metric(labels, want if latest_wanted is None else latest_wanted)
        low.add_metric(labels, lo)
        high.add_metric(labels, hi)
        status.add_metric([*labels, state], 1)
    return [replicas, desired, wanted, low, high, status]


def _node_families():
    nodes = (
        Node.objects.with_usage()
        .annotate(cluster_slug=F("nodepool__cluster__slug"), pool_slug=F("nodepool__slug"))
        .order_by("pk")
    )
    up = _gauge(
        "orchestration_node_up", "1 when the node's engine answered its last probe.", NODE_LABELS
    )
    families = {
        name: _gauge(f"orchestration_node_{name}", doc, NODE_LABELS)
        for name, doc in (
            ("cpu_capacity_cores", "CPU cores the node offers to replicas."),
            ("cpu_used_cores", "CPU cores its live replicas request."),
            ("cpu_free_cores", "CPU cores still free for replicas."),
            ("memory_capacity_bytes", "Memory the node offers to replicas."),
            ("memory_used_bytes", "Memory its live replicas request."),
            ("memory_free_bytes", "Memory still free for replicas."),
            ("accelerators", "Accelerator devices the node has."),
            (
                "accelerators_used",
                "Accelerators its live replicas hold (more than the node "
                "has only when the nodepool shares devices).",
            ),
        )
    }
    for node in nodes:
        labels = [node.name, f"{node.cluster_slug}/{node.pool_slug}"]
        up.add_metric(labels, 1 if node.status == NodeStatus.READY else 0)
        families["cpu_capacity_cores"].add_metric(labels, float(node.cpu_capacity))
        families["cpu_used_cores"].add_metric(labels, float(node.used_cpu))
        families["cpu_free_cores"].add_metric(labels, float(node.free_cpu))
        families["memory_capacity_bytes"].add_metric(labels, node.memory_capacity_bytes)
        families["memory_used_bytes"].add_metric(labels, node.used_memory)
        families["memory_free_bytes"].add_metric(labels, node.free_memory)
        families["accelerators"].add_metric(labels, node.accelerators)
        families["accelerators_used"].add_metric(labels, node.used_accelerators)
    return [up, *families.values()]
