"""Node health: ping each node's Docker engine and record what it answered."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from orchestration import docker_engine
from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.accelerators import engine_inventory
from orchestration.nodepools.models import Node, Nodepool, NodeStatus, Runtime
from orchestration.nodepools.signals import node_ready, node_unreachable

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def probe_node(node_id: int) -> str | None:
    """Ping one node's engine and say when it goes away or answers (nodepools.signals)."""
    node = Node.objects.select_related("nodepool").filter(pk=node_id).first()
    if node is None:
        return None
    if node.nodepool.runtime == Runtime.SWARM:
        # Its state is the manager's to say.
        sync_swarm_nodes.delay(node.nodepool_id)
        return node.status
    now = timezone.now()
    try:
        info = docker_engine.ping(node.engine_url)
    except docker_engine.EngineUnreachable as exc:
        changed = (
            Node.objects.filter(pk=node.pk)
            .exclude(status=NodeStatus.UNREACHABLE)
            .update(status=NodeStatus.UNREACHABLE, status_message=str(exc)[:500])
        )
        if changed:
            log.warning("node %s is unreachable: %s", node, exc)
            node_unreachable.send(sender=Node, node=node)
        return NodeStatus.UNREACHABLE
    came_back = (
        Node.objects.filter(pk=node.pk)
        .exclude(status=NodeStatus.READY)
        .update(status=NodeStatus.READY)
    )
    inventory = engine_inventory(node.accelerators, info.runtimes, info.devices)
    Node.objects.filter(pk=node.pk).update(
        status_message="",
        engine_version=info.version[:64],
        last_seen=now,
        accelerators=inventory.count,
        accelerator_ids=list(inventory.device_ids),
        accelerator_driver=inventory.driver,
    )
    if came_back:
        log.info("node %s is ready (Docker %s)", node, info.version)
    node_ready.send(sender=Node, node=node, came_back=bool(came_back))
    return NodeStatus.READY


@shared_task(acks_late=True, ignore_result=True)
def sync_swarm_nodes(nodepool_id: int) -> int:
    """Mirror a swarm nodepool's nodes from its manager; how many there are."""
    nodepool = Nodepool.objects.filter(pk=nodepool_id, runtime=Runtime.SWARM).first()
    if nodepool is None:
        return 0
    try:
        return len(swarm_nodes.sync(nodepool))
    except docker_engine.EngineError as exc:
        log.warning("swarm nodepool %s: %s", nodepool, exc)
        return 0


@shared_task(ignore_result=True)
def probe_all_nodes() -> int:
    ids = list(Node.objects.exclude(nodepool__runtime=Runtime.SWARM).values_list("pk", flat=True))
    for node_id in ids:
        probe_node.delay(node_id)
    for nodepool_id in Nodepool.objects.filter(runtime=Runtime.SWARM).values_list("pk", flat=True):
        sync_swarm_nodes.delay(nodepool_id)
    return len(ids)
