"""Nodepool and node operations: create, update, delete; a new or moved node is probed.
Called by the portal and the API."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from orchestration.accounts import events
from orchestration.db import after_commit, delete_unless_protected, validate_instance
from orchestration.errors import Blocked, Conflict, Forbidden, Invalid
from orchestration.nodepools.models import Node, Nodepool, Runtime

# Replica states that still hold a container on the node (by value: deployments sit above).
BUSY_REPLICA_STATES = ("pending", "starting", "ready", "draining")


def _writable(nodepool: Nodepool) -> None:
    if nodepool.cluster.is_shared:
        raise Forbidden("The shared cluster is built in and read-only.")


def _not_swarm(nodepool: Nodepool) -> None:
    if nodepool.runtime == Runtime.SWARM:
        raise Conflict(
            "A swarm nodepool's nodes are the swarm's: join an engine to the swarm "
            "(docker swarm join) instead of adding it here.",
            field="name",
        )


def request_probe(node: Node | int) -> None:
    """Probe the node's engine once the transaction commits; the periodic probe covers it
    if the broker is briefly unavailable."""
    pk = node if isinstance(node, int) else node.pk

    def send() -> None:
        # Imported here: the task module loads the Docker client, which pages do not need.
        from orchestration.nodepools.tasks import probe_node

        probe_node.delay(pk)

    after_commit(f"queue a probe of node {pk}", send)


def _check_swarm(nodepool: Nodepool) -> None:
    """A swarm nodepool's manager must answer as a manager and some node must carry its
    labels: checked before anything is saved, so a refusal leaves nothing half-made."""
    if nodepool.runtime != Runtime.SWARM:
        return
    # Imported here: pages that never make a swarm nodepool need not load the client.
    from orchestration.nodepools.swarm_nodes import SwarmProblem, check

    try:
        check(nodepool.manager_url, nodepool.node_labels)
    except SwarmProblem as exc:
        raise Invalid(exc.message, field=exc.field) from None


def request_swarm_sync(nodepool: Nodepool) -> None:
    """Mirror the swarm's nodes once the transaction commits (and every probe interval)."""
    pk = nodepool.pk

    def send() -> None:
        from orchestration.nodepools.tasks import sync_swarm_nodes

        sync_swarm_nodes.delay(pk)

    after_commit(f"queue a node sync of swarm nodepool {pk}", send)


def create_nodepool(*, cluster, slug: str, actor=None, **fields) -> Nodepool:
    nodepool = Nodepool(cluster=cluster, slug=slug, **fields)
    _writable(nodepool)
    validate_instance(nodepool)
    _check_swarm(nodepool)
    try:
        with transaction.atomic():
            nodepool.save()
            if nodepool.runtime == Runtime.SWARM:
                request_swarm_sync(nodepool)
    except IntegrityError:
        raise Conflict("This cluster already has a nodepool with this ID.", field="slug") from None
    events.record(cluster.owner_id, actor, "created a nodepool", f"{cluster.slug}/{slug}")
    return nodepool


def update_nodepool(nodepool: Nodepool, changes: dict) -> Nodepool:
    _writable(nodepool)
    moving = "runtime" in changes and changes["runtime"] != nodepool.runtime
    if moving and (nodepool.deployments.exists() or nodepool.nodes.exists()):
        raise Conflict(
            "The runtime of a nodepool with nodes or deployments cannot change; "
            "make a new nodepool.",
            field="runtime",
        )
    for name, value in changes.items():
        setattr(nodepool, name, value)
    validate_instance(nodepool)
    if {"runtime", "manager_url", "node_labels"} & changes.keys():
        _check_swarm(nodepool)
    with transaction.atomic():
        nodepool.save()
        if nodepool.runtime == Runtime.SWARM:
            request_swarm_sync(nodepool)
    return nodepool


def delete_nodepool(nodepool: Nodepool, actor=None) -> None:
    """Delete the nodepool with its nodes; refused while deployments are placed on it."""
    if nodepool.cluster.is_shared:
        raise Forbidden("The built-in shared nodepool cannot be deleted.")
    delete_unless_protected(nodepool, f"Nodepool {nodepool.slug}")
    where = f"{nodepool.cluster.slug}/{nodepool.slug}"
    events.record(nodepool.cluster.owner_id, actor, "deleted a nodepool", where)


def add_node(*, nodepool: Nodepool, name: str, **fields) -> Node:
    """Register a Docker engine in the nodepool; its health is probed in the background."""
    node = Node(nodepool=nodepool, name=name, **fields)
    _writable(nodepool)
    _not_swarm(nodepool)
    validate_instance(node)
    try:
        with transaction.atomic():
            node.save()
            request_probe(node)
    except IntegrityError:
        raise Conflict("This nodepool already has a node with this name.", field="name") from None
    return node


def update_node(node: Node, changes: dict) -> Node:
    _writable(node.nodepool)
    _not_swarm(node.nodepool)
    for name, value in changes.items():
        setattr(node, name, value)
    validate_instance(node)
    with transaction.atomic():
        node.save()
        if {"engine_url", "address"} & changes.keys():
            request_probe(node)
    return node


def delete_node(node: Node) -> None:
    """Remove the node; refused while replicas run on it (their containers would be
    orphaned on that engine)."""
    _writable(node.nodepool)
    _not_swarm(node.nodepool)
    busy = node.replicas.filter(state__in=BUSY_REPLICA_STATES).count()
    if busy:
        raise Blocked(
            f"Node {node.name} still runs {busy} replica(s): "
            "scale down or delete their deployments first."
        )
    Node.objects.filter(pk=node.pk).delete()
