"""A swarm nodepool's nodes: the manager's view of the swarm, mirrored as read-only rows.

The nodes a swarm nodepool shows are the swarm's nodes whose labels satisfy the
nodepool's `node_labels` (where its tasks may run). Where a node's engine answers is
not something Swarm knows; a node label `orchestration.engine=<engine URL>` says it
(`scripts/start-swarm` sets it), so model images can be copied to the node and its
replicas' logs read. The manager's own engine is the manager URL.
"""

from __future__ import annotations

import re

import docker.errors
from django.db import transaction
from django.utils import timezone

from orchestration import docker_engine
from orchestration.docker_engine import swarm
from orchestration.nodepools.models import Node, Nodepool, NodeStatus

ENGINE_LABEL = "orchestration.engine"
_SLUG_CHARS = re.compile(r"[^a-z0-9_-]+")


class SwarmProblem(Exception):
    """What is wrong with a swarm nodepool's settings, in words for its form or API."""

    def __init__(self, message: str, field: str = "manager_url") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def label_constraints(node_labels: list[str]) -> tuple[str, ...]:
    """Swarm placement constraints for the nodepool's key=value node labels."""
    out = []
    for item in node_labels:
        key, _, value = item.partition("=")
        out.append(f"node.labels.{key}=={value}")
    return tuple(out)


def matches(node: swarm.SwarmNode, node_labels: list[str]) -> bool:
    for item in node_labels:
        key, _, value = item.partition("=")
        if node.labels.get(key) != value:
            return False
    return True


def check(manager_url: str, node_labels: list[str]) -> list[swarm.SwarmNode]:
    """The swarm's nodes that would run the nodepool's replicas; SwarmProblem if the URL
    is not a reachable manager or no node carries the labels. Bounded by the engine
    client's timeout (a portal or API request waits at most that long)."""
    try:
        swarm.manager(manager_url)
        found = swarm.nodes(manager_url)
    except docker_engine.EngineUnreachable as exc:
        raise SwarmProblem(
            f"The Swarm manager at {manager_url} does not answer: {exc.reason}"
        ) from None
    except swarm.NotAManager as exc:
        raise SwarmProblem(f"{manager_url}: {exc.message}") from None
    except docker_engine.EngineError as exc:
        raise SwarmProblem(f"The engine at {manager_url} refused: {exc.message}") from None
    except (ValueError, docker.errors.DockerException) as exc:
        # The client refuses some URLs before it connects (a bad port, an unknown scheme).
        raise SwarmProblem(f"{manager_url} is not a Docker engine URL: {exc}") from None
    chosen = [n for n in found if matches(n, node_labels)]
    if not chosen:
        wanted = ", ".join(node_labels)
        raise SwarmProblem(
            f"No node of the swarm has the labels {wanted}; add them with "
            "`docker node update --label-add KEY=VALUE NODE` or change the labels.",
            field="node_labels",
        )
    return chosen


def node_names(found: list[swarm.SwarmNode]) -> dict[str, str]:
    """Node id -> a node name for the portal: the hostname as an ID, with the node id's
    start added where two nodes share a hostname (engines on one host)."""
    base = {
        n.id: (_SLUG_CHARS.sub("-", n.hostname.lower()).strip("-_") or "node")[:50] for n in found
    }
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        node_id: name if counts[name] == 1 else f"{name}-{node_id[:6].lower()}"
        for node_id, name in base.items()
    }


def engine_url(node: swarm.SwarmNode, manager_node_id: str, manager_url: str) -> str:
    if node.id == manager_node_id:
        return manager_url
    return node.labels.get(ENGINE_LABEL, "")


def sync(nodepool: Nodepool) -> list[Node]:
    """Mirror the swarm's nodes into the nodepool's rows; returns them. When the manager
    does not answer, the nodes are marked unreachable and EngineUnreachable is raised."""
    url = nodepool.manager_url
    try:
        manager = swarm.manager(url)
        found = [n for n in swarm.nodes(url) if matches(n, nodepool.node_labels)]
    except docker_engine.EngineError as exc:
        Node.objects.filter(nodepool=nodepool).update(
            status=NodeStatus.UNREACHABLE, status_message=f"manager: {exc}"[:500]
        )
        raise
    names = node_names(found)
    now = timezone.now()
    with transaction.atomic():
        existing = {n.swarm_node_id: n for n in Node.objects.filter(nodepool=nodepool)}
        for item in found:
            ready = item.state == "ready"
            fields = {
                "name": names[item.id],
                "engine_url": engine_url(item, manager.node_id, url),
                "address": item.address or "127.0.0.1",
                "cpu_capacity": round(item.cpu, 3),
                "memory_capacity_bytes": item.memory_bytes,
                "status": NodeStatus.READY if ready else NodeStatus.UNREACHABLE,
                "status_message": "" if ready else f"Swarm says the node is {item.state}",
                "availability": item.availability,
                "engine_version": item.engine_version[:64],
                "last_seen": now if ready else None,
            }
            row = existing.pop(item.id, None)
            if row is None:
                Node.objects.create(nodepool=nodepool, swarm_node_id=item.id, **fields)
            else:
                if not ready:
                    fields["last_seen"] = row.last_seen
                Node.objects.filter(pk=row.pk).update(**fields)
        # Gone from the swarm (or no longer labelled for this nodepool).
        Node.objects.filter(pk__in=[n.pk for n in existing.values()]).delete()
    return list(Node.objects.filter(nodepool=nodepool).order_by("name"))
