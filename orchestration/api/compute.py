"""Clusters, their nodepools, and the nodes (Docker engines) of each nodepool."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count
from ninja import Router, Status

from orchestration.accounts.access import Perm
from orchestration.api.common import Converted, is_slug, owner, paginated, require, responses
from orchestration.api.errors import ApiError, action_errors, not_found
from orchestration.api.schemas import (
    ClusterIn,
    ClusterOut,
    ClusterPatch,
    NodeIn,
    NodeOut,
    NodePatch,
    NodepoolIn,
    NodepoolOut,
    NodepoolPatch,
)
from orchestration.clusters import actions as cluster_actions
from orchestration.clusters.models import Cluster
from orchestration.nodepools import actions as nodepool_actions
from orchestration.nodepools.models import Node, Nodepool
from orchestration.quantities import format_memory

router = Router()

CLUSTER_FIELDS = {"slug": "id", "cluster_slug_unique_per_owner": "id", "cluster_slug_format": "id"}
NODEPOOL_FIELDS = {
    "slug": "id",
    "cpu_cores": "cpu_cores",
    "memory_bytes": "memory",
    "nodepool_slug_unique_per_cluster": "id",
    "nodepool_slug_format": "id",
    "nodepool_min_nodes_lte_max": "max_nodes",
    "nodepool_cpu_positive": "cpu_cores",
    "nodepool_memory_positive": "memory",
    "nodepool_price_not_negative": "price_per_hour",
    "nodepool_swarm_has_manager": "manager_url",
    "Minimum nodes cannot be more than maximum nodes.": "max_nodes",
}
NODE_FIELDS = {
    "memory_capacity_bytes": "memory_capacity",
    "node_name_unique_per_pool": "name",
    "node_cpu_not_negative": "cpu_capacity",
    "node_memory_not_negative": "memory_capacity",
}

READ_ONLY_SHARED = "The shared cluster is built in and read-only."


# --- lookups -----------------------------------------------------------------------------


def get_cluster(user, cluster_id: str, *, write: bool = False) -> Cluster:
    """The user's cluster (or the shared one, read-only) with this id; 404 otherwise."""
    cluster = None
    if is_slug(cluster_id):
        cluster = (
            Cluster.objects.visible_to(user)
            .filter(slug=cluster_id)
            .order_by("is_shared")  # the user's own before the shared one
            .first()
        )
    if cluster is None:
        raise not_found("cluster", cluster_id)
    if write and cluster.is_shared:
        raise ApiError(403, READ_ONLY_SHARED)
    return cluster


def get_nodepool(user, cluster_id: str, nodepool_id: str, *, write: bool = False) -> Nodepool:
    cluster = get_cluster(user, cluster_id, write=write)
    nodepool = None
    if is_slug(nodepool_id):
        nodepool = cluster.nodepools.filter(slug=nodepool_id).select_related("cluster").first()
    if nodepool is None:
        raise not_found("nodepool", f"{cluster_id}/{nodepool_id}")
    return nodepool


def get_node(user, cluster_id: str, nodepool_id: str, name: str, *, write=False) -> Node:
    nodepool = get_nodepool(user, cluster_id, nodepool_id, write=write)
    node = None
    if is_slug(name):
        node = (
            Node.objects.with_usage()
            .filter(nodepool=nodepool, name=name)
            .select_related("nodepool__cluster")
            .first()
        )
    if node is None:
        raise not_found("node", f"{cluster_id}/{nodepool_id}/{name}")
    return node


# --- output ------------------------------------------------------------------------------


def cluster_out(cluster: Cluster, nodepools: int | None = None) -> dict:
    if nodepools is None:
        nodepools = getattr(cluster, "nodepool_count", None)
        if nodepools is None:
            nodepools = cluster.nodepools.count()
    return {
        "id": cluster.slug,
        "description": cluster.description,
        "cloud_provider": cluster.cloud_provider,
        "region": cluster.region,
        "shared": cluster.is_shared,
        "nodepools": nodepools,
        "created_at": cluster.created_at,
        "updated_at": cluster.updated_at,
    }


def nodepool_out(nodepool: Nodepool) -> dict:
    nodes = getattr(nodepool, "node_count", None)
    deployments = getattr(nodepool, "deployment_count", None)
    return {
        "id": nodepool.slug,
        "cluster_id": nodepool.cluster.slug,
        "description": nodepool.description,
        "instance_type": nodepool.instance_type,
        "cpu_cores": float(nodepool.cpu_cores),
        "memory_bytes": nodepool.memory_bytes,
        "memory": format_memory(nodepool.memory_bytes),
        "accelerators": nodepool.accelerators,
        "accelerator_type": nodepool.accelerator_type,
        "accelerator_sharing": nodepool.accelerator_sharing,
        "price_per_hour": float(nodepool.price_per_hour),
        "min_nodes": nodepool.min_nodes,
        "max_nodes": nodepool.max_nodes,
        "runtime": nodepool.runtime,
        "manager_url": nodepool.manager_url,
        "node_labels": list(nodepool.node_labels or []),
        "nodes": nodepool.nodes.count() if nodes is None else nodes,
        "deployments": nodepool.deployments.count() if deployments is None else deployments,
        "created_at": nodepool.created_at,
        "updated_at": nodepool.updated_at,
    }


def node_out(node: Node) -> dict:
    return {
        "name": node.name,
        "cluster_id": node.nodepool.cluster.slug,
        "nodepool_id": node.nodepool.slug,
        "engine_url": node.engine_url,
        "address": node.address,
        "cpu_capacity": float(node.cpu_capacity),
        "memory_capacity_bytes": node.memory_capacity_bytes,
        "memory_capacity": format_memory(node.memory_capacity_bytes),
        "accelerators": node.accelerators,
        "accelerator_type": node.effective_accelerator_type,
        "accelerator_ids": node.device_ids,
        "accelerator_driver": node.accelerator_driver,
        "used_cpu": float(getattr(node, "used_cpu", 0) or 0),
        "used_memory_bytes": int(getattr(node, "used_memory", 0) or 0),
        "used_accelerators": int(getattr(node, "used_accelerators", 0) or 0),
        "status": node.status,
        "status_message": node.status_message,
        "availability": node.availability,
        "swarm_node_id": node.swarm_node_id,
        "engine_version": node.engine_version,
        "last_seen": node.last_seen,
        "created_at": node.created_at,
    }


def _with_counts(nodepools):
    return nodepools.select_related("cluster").annotate(
        node_count=Count("nodes", distinct=True),
        deployment_count=Count("deployments", distinct=True),
    )


# --- clusters ----------------------------------------------------------------------------


@router.get(
    "/clusters/",
    response=responses({200: list[ClusterOut]}, 400),
    summary="List clusters",
    description="Your clusters, and the built-in shared cluster (read-only).",
    tags=["Clusters"],
)
@paginated
def list_clusters(request):
    clusters = (
        Cluster.objects.visible_to(owner(request))
        .annotate(nodepool_count=Count("nodepools"))
        .order_by("is_shared", "slug")
    )
    return Converted(clusters, cluster_out)


@router.post(
    "/clusters/",
    response=responses({201: ClusterOut}, 400, 403, 409),
    summary="Create a cluster",
    tags=["Clusters"],
)
def create_cluster(request, payload: ClusterIn):
    require(request, Perm.COMPUTE)
    with action_errors(CLUSTER_FIELDS):
        cluster = cluster_actions.create_cluster(
            owner=owner(request),
            actor=request.auth,
            slug=payload.id,
            **payload.model_dump(exclude={"id"}),
        )
    return Status(201, cluster_out(cluster, nodepools=0))


@router.get(
    "/clusters/{cluster_id}/",
    response=responses({200: ClusterOut}, 404),
    summary="Get a cluster",
    tags=["Clusters"],
)
def get_cluster_(request, cluster_id: str):
    return cluster_out(get_cluster(owner(request), cluster_id))


def _update_cluster(request, cluster_id: str, payload: ClusterPatch):
    require(request, Perm.COMPUTE)
    cluster = get_cluster(owner(request), cluster_id, write=True)
    with action_errors(CLUSTER_FIELDS):
        cluster_actions.update_cluster(cluster, payload.model_dump(exclude_unset=True))
    return cluster_out(cluster)


router.patch(
    "/clusters/{cluster_id}/",
    response=responses({200: ClusterOut}, 400, 403, 404),
    summary="Update a cluster",
    description="Changes the fields sent: description, cloud_provider, region.",
    operation_id="update_cluster",
    tags=["Clusters"],
)(_update_cluster)
router.put(
    "/clusters/{cluster_id}/",
    response=responses({200: ClusterOut}, 400, 403, 404),
    summary="Update a cluster (same as PATCH)",
    operation_id="put_cluster",
    tags=["Clusters"],
)(_update_cluster)


@router.delete(
    "/clusters/{cluster_id}/",
    response=responses({204: None}, 403, 404, 409),
    summary="Delete a cluster",
    description="With its nodepools and nodes; refused (409) while deployments are placed on it.",
    tags=["Clusters"],
)
def delete_cluster(request, cluster_id: str):
    require(request, Perm.COMPUTE)
    cluster = get_cluster(owner(request), cluster_id, write=True)
    with action_errors():
        cluster_actions.delete_cluster(cluster, actor=request.auth)
    return Status(204, None)


# --- nodepools ---------------------------------------------------------------------------


@router.get(
    "/clusters/{cluster_id}/nodepools/",
    response=responses({200: list[NodepoolOut]}, 400, 404),
    summary="List a cluster's nodepools",
    tags=["Nodepools"],
)
@paginated
def list_nodepools(request, cluster_id: str):
    cluster = get_cluster(owner(request), cluster_id)
    return Converted(_with_counts(cluster.nodepools.all()), nodepool_out)


def _nodepool_values(data: dict) -> dict:
    values = dict(data)
    if "memory" in values:
        values["memory_bytes"] = values.pop("memory")
    if "price_per_hour" in values:
        price = Decimal(repr(float(values["price_per_hour"])))
        values["price_per_hour"] = price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return values


@router.post(
    "/clusters/{cluster_id}/nodepools/",
    response=responses({201: NodepoolOut}, 400, 403, 404, 409),
    summary="Create a nodepool",
    description=(
        '`memory` takes bytes or a quantity such as "8Gi"; `cpu_cores` a number or "500m". '
        '`runtime` "swarm" makes a nodepool whose replicas a Swarm manager schedules: '
        "`manager_url` must answer as a manager and some node must carry `node_labels`, "
        "else 400 naming the field (the manager is asked while the request waits)."
    ),
    tags=["Nodepools"],
)
def create_nodepool(request, cluster_id: str, payload: NodepoolIn):
    require(request, Perm.COMPUTE)
    cluster = get_cluster(owner(request), cluster_id, write=True)
    values = _nodepool_values(payload.model_dump(exclude={"id"}))
    with action_errors(NODEPOOL_FIELDS):
        nodepool = nodepool_actions.create_nodepool(
            cluster=cluster, slug=payload.id, actor=request.auth, **values
        )
    return Status(201, nodepool_out(nodepool))


@router.get(
    "/clusters/{cluster_id}/nodepools/{nodepool_id}/",
    response=responses({200: NodepoolOut}, 404),
    summary="Get a nodepool",
    tags=["Nodepools"],
)
def get_nodepool_(request, cluster_id: str, nodepool_id: str):
    return nodepool_out(get_nodepool(owner(request), cluster_id, nodepool_id))


def _update_nodepool(request, cluster_id: str, nodepool_id: str, payload: NodepoolPatch):
    require(request, Perm.COMPUTE)
    nodepool = get_nodepool(owner(request), cluster_id, nodepool_id, write=True)
    changes = _nodepool_values(payload.model_dump(exclude_unset=True))
    with action_errors(NODEPOOL_FIELDS):
        nodepool_actions.update_nodepool(nodepool, changes)
    return nodepool_out(nodepool)


router.patch(
    "/clusters/{cluster_id}/nodepools/{nodepool_id}/",
    response=responses({200: NodepoolOut}, 400, 403, 404, 409),
    summary="Update a nodepool",
    description="A nodepool with nodes or deployments keeps its `runtime` (409).",
    operation_id="update_nodepool",
    tags=["Nodepools"],
)(_update_nodepool)
router.put(
    "/clusters/{cluster_id}/nodepools/{nodepool_id}/",
    response=responses({200: NodepoolOut}, 400, 403, 404, 409),
    summary="Update a nodepool (same as PATCH)",
    operation_id="put_nodepool",
    tags=["Nodepools"],
)(_update_nodepool)


@router.delete(
    "/clusters/{cluster_id}/nodepools/{nodepool_id}/",
    response=responses({204: None}, 403, 404, 409),
    summary="Delete a nodepool",
    description="With its nodes; refused (409) while deployments are placed on it.",
    tags=["Nodepools"],
)
def delete_nodepool(request, cluster_id: str, nodepool_id: str):
    require(request, Perm.COMPUTE)
    nodepool = get_nodepool(owner(request), cluster_id, nodepool_id, write=True)
    with action_errors():
        nodepool_actions.delete_nodepool(nodepool, actor=request.auth)
    return Status(204, None)


# --- nodes -------------------------------------------------------------------------------

NODES_PATH = "/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes/"


@router.get(
    NODES_PATH,
    response=responses({200: list[NodeOut]}, 400, 404),
    summary="List nodes",
    tags=["Nodes"],
)
@paginated
def list_nodes(request, cluster_id: str, nodepool_id: str):
    nodepool = get_nodepool(owner(request), cluster_id, nodepool_id)
    nodes = Node.objects.with_usage().filter(nodepool=nodepool).select_related("nodepool__cluster")
    return Converted(nodes.order_by("name"), node_out)


@router.post(
    NODES_PATH,
    response=responses({201: NodeOut}, 400, 403, 404, 409),
    summary="Add a node",
    description=(
        "Registers a Docker engine; its health is probed in the background. A swarm "
        "nodepool's nodes are the swarm's (409): join the engine to the swarm instead."
    ),
    tags=["Nodes"],
)
def create_node(request, cluster_id: str, nodepool_id: str, payload: NodeIn):
    require(request, Perm.COMPUTE)
    nodepool = get_nodepool(owner(request), cluster_id, nodepool_id, write=True)
    data = payload.model_dump()
    fields = dict(
        engine_url=data["engine_url"],
        address=data["address"],
        cpu_capacity=data["cpu_capacity"] or nodepool.cpu_cores,
        memory_capacity_bytes=data["memory_capacity"] or nodepool.memory_bytes,
        accelerators=(
            nodepool.accelerators if data["accelerators"] is None else data["accelerators"]
        ),
        accelerator_type=data["accelerator_type"] or "",
    )
    with action_errors(NODE_FIELDS):
        node = nodepool_actions.add_node(nodepool=nodepool, name=data["name"], **fields)
    return Status(201, node_out(get_node(owner(request), cluster_id, nodepool_id, node.name)))


@router.get(
    NODES_PATH + "{name}/",
    response=responses({200: NodeOut}, 404),
    summary="Get a node",
    tags=["Nodes"],
)
def get_node_(request, cluster_id: str, nodepool_id: str, name: str):
    return node_out(get_node(owner(request), cluster_id, nodepool_id, name))


def _update_node(request, cluster_id: str, nodepool_id: str, name: str, payload: NodePatch):
    require(request, Perm.COMPUTE)
    node = get_node(owner(request), cluster_id, nodepool_id, name, write=True)
    data = payload.model_dump(exclude_unset=True)
    if "memory_capacity" in data:
        data["memory_capacity_bytes"] = data.pop("memory_capacity")
    with action_errors(NODE_FIELDS):
        nodepool_actions.update_node(node, data)
    return node_out(get_node(owner(request), cluster_id, nodepool_id, name))


router.patch(
    NODES_PATH + "{name}/",
    response=responses({200: NodeOut}, 400, 403, 404, 409),
    summary="Update a node",
    operation_id="update_node",
    tags=["Nodes"],
)(_update_node)
router.put(
    NODES_PATH + "{name}/",
    response=responses({200: NodeOut}, 400, 403, 404, 409),
    summary="Update a node (same as PATCH)",
    operation_id="put_node",
    tags=["Nodes"],
)(_update_node)


@router.delete(
    NODES_PATH + "{name}/",
    response=responses({204: None}, 403, 404, 409),
    summary="Remove a node",
    description="Refused (409) while replicas run on it: scale its deployments down first.",
    tags=["Nodes"],
)
def delete_node(request, cluster_id: str, nodepool_id: str, name: str):
    require(request, Perm.COMPUTE)
    node = get_node(owner(request), cluster_id, nodepool_id, name, write=True)
    with action_errors():
        nodepool_actions.delete_node(node)
    return Status(204, None)
