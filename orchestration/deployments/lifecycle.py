"""A replica's life on an engine: start, stop, and the removal of a deleted deployment.

Each function takes ids, re-fetches its rows, claims its work with a conditional update
and returns quietly when the rows are gone or taken. They raise
``docker_engine.EngineUnreachable`` for the task to retry; every other failure is
recorded on the replica. Follow-up work is returned, never queued here (tasks.py queues).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestration import docker_engine
from orchestration.deployments import health, routing_state
from orchestration.deployments.containers import (
    ensure_image,
    mark_unreachable,
    remove_deployment_containers,
    remove_replica_containers,
    replica_container_spec,
)
from orchestration.deployments.models import (
    LIVE_STATES,
    Deployment,
    OrphanedContainers,
    Replica,
    ReplicaState,
)
from orchestration.deployments.placement import NodeRoom, PoolRules, choose_node, wanted_types
from orchestration.deployments.reconcile import (
    SOURCE,
    fail,
    lock_deployment,
    refresh_status,
    settle_status,
)
from orchestration.nodepools.models import Node, Nodepool, NodeStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileAgain:
    """What a start asks of its caller: reconcile the deployment, after `countdown` s."""

    deployment_id: int
    countdown: int = 0


# A draining replica still runs on its devices until its container stops.
HOLDING_STATES = (*LIVE_STATES, ReplicaState.DRAINING)

# -- start ----------------------------------------------------------------------------


def start(replica_id: int, *, claimed_by: str = "") -> ReconcileAgain | None:
    """Place a pending replica, start its container and wait until it answers ready."""
    replica = claim_and_place(replica_id, claimed_by=claimed_by)
    if replica is None:
        return None
    node = replica.node
    version = replica.model_version
    deployment = replica.deployment
    cpu = version.requested_cpu()
    try:
        ensure_image(node, version.image)
        container = docker_engine.run_replica(
            node.engine_url, **replica_container_spec(replica, time.time())
        )
    except docker_engine.EngineUnreachable as exc:
        # Give the claim back so the retry (or another worker) can place it again.
        Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
            state=ReplicaState.PENDING, node=None, accelerator_ids=[]
        )
        mark_unreachable(node, exc)
        raise
    except docker_engine.EngineError as exc:
        message = f"could not start the container: {exc}"
        if replica.accelerator_ids and "device driver" in exc.message:
            message += (
                f" (node {node.name} needs the NVIDIA driver and container toolkit for "
                f"accelerator {', '.join(replica.accelerator_ids)})"
            )
        fail(replica, message, event="replica_failed")
        return ReconcileAgain(deployment.pk, countdown=1)

    address = f"{node.address}:{container.host_port}"
    updated = Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
        container_id=container.id, address=address, started_at=timezone.now()
    )
    if not updated:
        # Drained or deleted while we were starting it: do not leave the container behind.
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        return None

    error = health.wait_until_ready(node.engine_url, container.id, address)
    if error:
        logs = docker_engine.container_logs(node.engine_url, container.id, tail=30)
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        replica.refresh_from_db()
        fail(replica, f"{error}\n{logs}".strip(), event="replica_failed")
        return ReconcileAgain(deployment.pk, countdown=1)
    route, on_bridge = _route(node, container, address)
    with transaction.atomic():
        # The deployment's lock first, as reconcile takes it: the replica turns ready and
        # the status says so in one commit, so no reader sees one without the other.
        locked = lock_deployment(deployment.pk)
        became_ready = Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
            state=ReplicaState.READY,
            ready_at=timezone.now(),
            last_error="",
            pending_reason="",
            address=route,
            on_bridge=on_bridge,
        )
        if became_ready and locked is not None:
            settle_status(locked)
    if not became_ready:
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        return None
    # Routers first (a cold start's request waits on this), then the end of the start-up
    # boost: the engine call takes 15-20 ms, and the replica's first requests need not
    # wait for it; it then serves within the CPU its placement counted.
    routing_state.changed(deployment.pk)
    if cpu < settings.REPLICA_START_CPU:
        try:
            docker_engine.limit_cpu(node.engine_url, container.id, cpu)
        except docker_engine.EngineError as exc:
            # It must not go on serving above its limit: replace it.
            with suppress(docker_engine.EngineError):
                docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
            error = f"could not set the container's CPU limit after its start: {exc}"
            fail(replica, error, event="replica_failed")
            return ReconcileAgain(deployment.pk, countdown=1)
    deployment.record(
        "replica_ready", f"Replica {replica.pk} ready on {node.name} at {route}", source="start"
    )
    # A ready replica can unblock a rollover or settle the status.
    return ReconcileAgain(deployment.pk)


def _route(node: Node, container: docker_engine.ContainerInfo, published: str) -> tuple[str, bool]:
    """Where the router and health checks reach the replica, and whether that is its
    container address: on an engine of this host, when the runner answers there, that
    skips Docker's userland proxy; otherwise the published port."""
    ip = container.ip_address
    if not (settings.ROUTE_TO_CONTAINER_ADDRESS and ip and node.engine_on_this_host):
        return published, False
    direct = (
        f"[{ip}]:{docker_engine.CONTAINER_PORT}"
        if ":" in ip
        else f"{ip}:{docker_engine.CONTAINER_PORT}"
    )
    if health.answers_at(direct):
        return direct, True
    return published, False


def claim_and_place(replica_id: int, *, claimed_by: str = "") -> Replica | None:
    """Claim a pending replica for this worker and pick its node (best fit), or say why not."""
    with transaction.atomic():
        replica = (
            Replica.objects.select_for_update()
            .select_related("deployment", "model_version")
            .filter(pk=replica_id, state=ReplicaState.PENDING)
            .first()
        )
        if replica is None:
            return None
        version = replica.model_version
        nodepool = Nodepool.objects.get(pk=replica.deployment.nodepool_id)
        cpu, memory = version.requested_cpu(), version.requested_memory()
        # Lock the nodepool's nodes so concurrent placements see each other's replicas.
        nodes = list(
            Node.objects.select_for_update()
            .filter(nodepool_id=nodepool.pk, status=NodeStatus.READY)
            .order_by("pk")
        )
        usage = {n.pk: n for n in Node.objects.with_usage().filter(pk__in=[n.pk for n in nodes])}
        held = _held_devices([n.pk for n in nodes])
        rooms = [
            NodeRoom(
                n.pk,
                n.name,
                float(usage[n.pk].free_cpu),
                int(usage[n.pk].free_memory),
                accelerator_type=n.accelerator_type or nodepool.accelerator_type,
                devices=tuple((d, held[n.pk, d]) for d in n.device_ids),
            )
            for n in nodes
        ]
        compute = version.config.get("inference_compute_info") if version.config else None
        placement = choose_node(
            rooms,
            cpu,
            memory,
            accelerators=version.num_accelerators,
            accelerator_types=wanted_types((compute or {}).get("accelerator_type")),
            pool=PoolRules(
                name=nodepool.slug,
                accelerator_type=nodepool.accelerator_type,
                accelerators=nodepool.accelerators,
                sharing=nodepool.accelerator_sharing,
            ),
        )
        if placement.node_id is None:
            if replica.pending_reason != placement.reason:
                Replica.objects.filter(pk=replica.pk).update(pending_reason=placement.reason)
                replica.deployment.record("pending", placement.reason, source="placement")
            return None
        Replica.objects.filter(pk=replica.pk, state=ReplicaState.PENDING).update(
            state=ReplicaState.STARTING,
            node_id=placement.node_id,
            accelerator_ids=list(placement.device_ids),
            pending_reason="",
            attempts=replica.attempts + 1,
            claimed_by=claimed_by,
            claimed_at=timezone.now(),
        )
    return Replica.objects.select_related("deployment", "model_version", "node").get(pk=replica.pk)


def _held_devices(node_ids: list[int]) -> Counter[tuple[int, str]]:
    """How many live replicas hold each (node, device): placement's device usage."""
    held: Counter[tuple[int, str]] = Counter()
    rows = Replica.objects.filter(node_id__in=node_ids, state__in=HOLDING_STATES).values_list(
        "node_id", "accelerator_ids"
    )
    for node_id, devices in rows:
        for device in devices or []:
            held[node_id, str(device)] += 1
    return held


def recover_interrupted_starts(hostname: str, before: datetime) -> list[int]:
    """Return replicas that `hostname` claimed before `before` to pending, containers gone.

    A worker starts under the node name of one that died before it (Celery node names
    are unique), so the starts that one claimed will never finish. Returns the
    deployments to reconcile.
    """
    stale = Replica.objects.filter(
        state=ReplicaState.STARTING, claimed_by=hostname, claimed_at__lt=before
    ).select_related("node", "deployment")
    touched: list[int] = []
    for replica in stale:
        # Its container may exist without the row knowing it: remove it, or the next
        # start would give the replica two.
        remove_replica_containers(replica.node, replica.pk)
        reset = Replica.objects.filter(
            pk=replica.pk, state=ReplicaState.STARTING, claimed_by=hostname
        ).update(
            state=ReplicaState.PENDING,
            node=None,
            accelerator_ids=[],
            container_id="",
            address="",
            started_at=None,
            claimed_by="",
            claimed_at=None,
        )
        if reset:
            replica.deployment.record(
                "replica_recovered",
                f"Replica {replica.pk}: its start was cut off (worker {hostname} stopped); "
                "starting it again",
                source=SOURCE,
            )
            touched.append(replica.deployment_id)
    return touched


# -- stop -----------------------------------------------------------------------------


def stop(replica_id: int) -> None:
    """Wait for a draining replica's in-flight requests (up to the grace), then remove it."""
    replica = (
        Replica.objects.select_related("node", "deployment")
        .filter(pk=replica_id, state=ReplicaState.DRAINING)
        .first()
    )
    if replica is None:
        return
    node = replica.node
    if node is not None and replica.container_id:
        health.wait_drained(replica.address, on_bridge=replica.on_bridge)
        try:
            docker_engine.stop_and_remove(node.engine_url, replica.container_id, timeout=10)
        except docker_engine.EngineUnreachable as exc:
            mark_unreachable(node, exc)
            raise
    stopped = Replica.objects.filter(pk=replica.pk, state=ReplicaState.DRAINING).update(
        state=ReplicaState.STOPPED, stopped_at=timezone.now()
    )
    if stopped:
        replica.deployment.record(
            "replica_stopped",
            f"Replica {replica.pk} stopped" + (f" on {node.name}" if node else ""),
            source="stop",
        )
        routing_state.changed(replica.deployment_id)
        refresh_status(replica.deployment_id)


# -- delete ---------------------------------------------------------------------------


def delete(deployment_id: int) -> None:
    """Remove every container of the deployment, found by label on every node, then the row.

    An unreachable node does not hold the deletion up: its containers are recorded as
    orphaned and removed when the node answers again (`remove_orphans`).
    """
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is None:
        return
    Replica.objects.filter(deployment=deployment, state__in=LIVE_STATES).update(
        state=ReplicaState.DRAINING
    )
    routing_state.changed(deployment_id)
    nodes = Node.objects.filter(
        Q(nodepool_id=deployment.nodepool_id) | Q(replicas__deployment=deployment)
    ).distinct()
    unreachable: list[tuple[Node, str]] = []
    for node in nodes:
        try:
            remove_deployment_containers(node, deployment.pk)
        except docker_engine.EngineUnreachable as exc:
            mark_unreachable(node, exc)
            unreachable.append((node, str(exc)))
    with transaction.atomic():
        for node, reason in unreachable:
            container_ids = [
                cid
                for cid in deployment.replicas.filter(node=node).values_list(
                    "container_id", flat=True
                )
                if cid
            ]
            OrphanedContainers.objects.get_or_create(
                node=node,
                deployment_key=deployment.pk,
                defaults={
                    "deployment_slug": deployment.slug,
                    "container_ids": container_ids,
                    "reason": reason[:500],
                },
            )
            log.warning(
                "deployment %s deleted; its containers on unreachable node %s are removed "
                "when it answers again",
                deployment.slug,
                node.name,
            )
        deployment.delete()
    routing_state.changed(deployment_id)


def remove_orphans(node_id: int) -> int:
    """Remove deleted deployments' containers from a node that is reachable again.

    A note goes only once its containers are gone; while the engine is unreachable the
    notes stay for the next probe. Returns how many notes were settled.
    """
    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        return 0
    settled = 0
    for orphan in OrphanedContainers.objects.filter(node=node):
        try:
            remove_deployment_containers(node, orphan.deployment_key)
        except docker_engine.EngineUnreachable as exc:
            mark_unreachable(node, exc)
            break
        OrphanedContainers.objects.filter(pk=orphan.pk).delete()
        log.info("removed the containers of deleted deployment %s from %s", orphan, node.name)
        settled += 1
    return settled
