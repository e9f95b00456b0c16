"""Node health: ping each node's Docker engine and record what it answered."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from orchestration import docker_engine
from orchestration.nodepools.accelerators import engine_inventory
from orchestration.nodepools.models import Node, NodeStatus
from orchestration.nodepools.signals import node_ready, node_unreachable

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def probe_node(node_id: int) -> str | None:
    """Ping one node's engine and say when it goes away or answers (nodepools.signals)."""
    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        return None
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


@shared_task(ignore_result=True)
def probe_all_nodes() -> int:
    ids = list(Node.objects.values_list("pk", flat=True))
    for node_id in ids:
        probe_node.delay(node_id)
    return len(ids)
