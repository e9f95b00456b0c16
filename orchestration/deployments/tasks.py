"""Celery tasks that make a deployment's containers match its desired replica count.

Every task takes ids, re-fetches its rows and exits quietly when they are gone. Work is
claimed with conditional updates (``UPDATE ... WHERE state = old``) so that a task run
twice, or two reconciles at once, converge on the same containers. Only
``EngineUnreachable`` is retried: every other failure is recorded on the replica.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import httpx
from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orchestration import docker_engine
from orchestration.catalog.models import BuildStatus
from orchestration.deployments import routing_state
from orchestration.deployments.models import (
    LIVE_STATES,
    Deployment,
    DeploymentStatus,
    OrphanedContainers,
    Replica,
    ReplicaState,
)
from orchestration.deployments.placement import NodeRoom, choose_node
from orchestration.nodepools.models import Node, NodeStatus

log = logging.getLogger(__name__)

LABEL_MANAGED = "orchestration.managed"
LABEL_DEPLOYMENT = "orchestration.deployment"
LABEL_REPLICA = "orchestration.replica"
LABEL_VERSION = "orchestration.model-version"
LABEL_INSTANCE = "orchestration.instance"


def container_labels(deployment_id: int) -> dict[str, str]:
    """The labels that find a deployment's containers, scoped to this installation.

    Two installations (or test runs) may share a Docker engine and reuse deployment ids;
    the instance label keeps each from treating the other's containers as orphans.
    """
    return {LABEL_INSTANCE: settings.INSTANCE_ID, LABEL_DEPLOYMENT: str(deployment_id)}


SOURCE = "reconcile"
MAX_BACKOFF_SECONDS = 300

# Tasks that talk to engines: idempotent (so acknowledged late, redelivered after a
# crash) and retried with backoff only while an engine is unreachable.
ENGINE_TASK = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (docker_engine.EngineUnreachable,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": None,
}


def _backoff(failures: int) -> int:
    return min(MAX_BACKOFF_SECONDS, 5 * 2 ** max(failures - 1, 0))


# -- reconcile -----------------------------------------------------------------------


@shared_task(**ENGINE_TASK)
def reconcile_deployment(deployment_id: int) -> None:
    """Compare the deployment's replicas with its desired count and act on the difference."""
    deployment = (
        Deployment.objects.select_related("model_version", "nodepool")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None or deployment.status == DeploymentStatus.DELETING:
        return
    version = deployment.model_version
    if version.build_status == BuildStatus.FAILED:
        _set_status(deployment, DeploymentStatus.FAILED, f"Image build of v{version.number} failed")
        return
    if version.build_status != BuildStatus.READY:
        _set_status(
            deployment,
            DeploymentStatus.PENDING,
            f"Waiting for the image of v{version.number} ({version.get_build_status_display()})",
        )
        return

    _observe(deployment)
    to_start, to_drain, retry_in = _plan(deployment.pk)
    for replica_id in to_start:
        start_replica.delay(replica_id)
    for replica_id in to_drain:
        stop_replica.delay(replica_id)
    if retry_in is not None:
        reconcile_deployment.apply_async((deployment.pk,), countdown=retry_in)
    _refresh_status(deployment.pk)


def _observe(deployment: Deployment) -> None:
    """Reconcile the database with what the engines say: exits, lost nodes, orphans."""
    replicas = {r.pk: r for r in deployment.replicas.select_related("node")}
    nodes = Node.objects.filter(
        Q(nodepool_id=deployment.nodepool_id) | Q(replicas__deployment=deployment)
    ).distinct()
    seen: set[int] = set()
    for node in nodes:
        if node.status == NodeStatus.UNREACHABLE:
            for replica in replicas.values():
                if replica.node_id == node.pk and replica.state in (
                    ReplicaState.STARTING,
                    ReplicaState.READY,
                ):
                    _fail(replica, f"node {node.name} is unreachable", event="replica_lost")
            continue
        try:
            containers = docker_engine.list_containers(
                node.engine_url, labels=container_labels(deployment.pk)
            )
        except docker_engine.EngineUnreachable as exc:
            _mark_unreachable(node, exc)
            raise
        for container in containers:
            replica_id = int(container.labels.get(LABEL_REPLICA, "0") or 0)
            replica = replicas.get(replica_id)
            alive = container.status in ("running", "created", "restarting")
            # A running container whose replica has no id yet is being started right now.
            ours = (
                replica is not None
                and replica.state not in (ReplicaState.STOPPED, ReplicaState.FAILED)
                and (container.id == replica.container_id or (not replica.container_id and alive))
            )
            if not ours:
                # Left behind by a crash between "container created" and "row updated", or
                # by an earlier life of this database whose ids are being reused.
                docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
                continue
            seen.add(replica_id)
            if not alive:
                logs = docker_engine.container_logs(node.engine_url, container.id, tail=20)
                _fail(
                    replica,
                    f"container exited with code {container.exit_code}\n{logs}".strip(),
                    event="replica_exited",
                )
                docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
    stale_before = timezone.now() - timedelta(seconds=_start_deadline())
    for replica in replicas.values():
        if (
            replica.state == ReplicaState.STARTING
            and replica.claimed_at is not None
            and replica.claimed_at < stale_before
        ):
            # Its worker is gone and did not come back under the same name to give it back.
            _fail(replica, "its start never finished (worker stopped?)", event="replica_lost")
            _remove_replica_containers(replica)
        elif replica.state == ReplicaState.READY and replica.pk not in seen:
            node = replica.node
            if node is not None and node.status != NodeStatus.UNREACHABLE:
                _fail(replica, "container is gone", event="replica_exited")
        elif replica.state == ReplicaState.READY and not _healthy(replica.address):
            _fail(replica, "stopped answering health checks", event="replica_unhealthy")
            if replica.node is not None and replica.container_id:
                docker_engine.stop_and_remove(replica.node.engine_url, replica.container_id)


def _plan(deployment_id: int) -> tuple[list[int], list[int], int | None]:
    """Under the deployment's row lock: create pending replicas, pick ones to drain.

    The lock makes two concurrent reconciles take turns, so the second sees the
    replicas the first created and creates none.
    """
    now = timezone.now()
    with transaction.atomic():
        deployment = (
            Deployment.objects.select_for_update()
            .select_related("model_version")
            .get(pk=deployment_id)
        )
        desired = max(
            deployment.min_replicas, min(deployment.desired_replicas, deployment.max_replicas)
        )
        live = list(deployment.replicas.filter(state__in=LIVE_STATES).order_by("created_at", "pk"))
        current = [r for r in live if r.model_version_id == deployment.model_version_id]
        outdated = [r for r in live if r.model_version_id != deployment.model_version_id]
        to_drain: list[Replica] = []

        if outdated:
            # Roll over one replica at a time: a new one must be ready before an old drains.
            ready_current = sum(1 for r in current if r.state == ReplicaState.READY)
            surplus = ready_current + len(outdated) - desired
            to_drain += outdated[: max(0, min(surplus, len(outdated)))]
            # Old replicas that are not ready yet give nothing to routing; drop them now.
            to_drain += [r for r in outdated if r.state != ReplicaState.READY and r not in to_drain]
            # Surge by one: the next new replica is created once the previous is ready.
            wanted_new = min(desired, ready_current + 1)
        else:
            wanted_new = desired

        if len(current) > wanted_new:
            # Scale in: newest first; a pending one has no container and goes at once.
            excess = sorted(
                current,
                key=lambda r: (r.state == ReplicaState.READY, -r.created_at.timestamp(), -r.pk),
            )
            to_drain += excess[: len(current) - wanted_new]

        created = 0
        retry_in = None
        if len(current) < wanted_new:
            failures = deployment.replicas.filter(
                state=ReplicaState.FAILED, stopped_at__gte=now - timedelta(minutes=10)
            ).count()
            delay = _backoff(failures) if failures else 0
            for _ in range(wanted_new - len(current)):
                Replica.objects.create(
                    deployment=deployment,
                    model_version=deployment.model_version,
                    retry_at=now + timedelta(seconds=delay) if delay else None,
                )
                created += 1
            if delay:
                retry_in = delay

        drained: list[int] = []
        for replica in to_drain:
            if replica.state == ReplicaState.PENDING:
                Replica.objects.filter(pk=replica.pk, state=ReplicaState.PENDING).update(
                    state=ReplicaState.STOPPED, stopped_at=now
                )
                continue
            claimed = Replica.objects.filter(pk=replica.pk, state=replica.state).update(
                state=ReplicaState.DRAINING
            )
            if claimed:
                drained.append(replica.pk)
        if created:
            deployment.record(
                "scale", f"Adding {created} replica(s) (desired {desired})", source=SOURCE
            )
        if drained:
            deployment.record(
                "scale", f"Draining {len(drained)} replica(s) (desired {desired})", source=SOURCE
            )

        pending = deployment.replicas.filter(state=ReplicaState.PENDING)
        startable = list(
            pending.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now)).values_list(
                "pk", flat=True
            )
        )
        later = pending.filter(retry_at__gt=now).order_by("retry_at").first()
        if later is not None:
            wait = max(1, int((later.retry_at - now).total_seconds()) + 1)
            retry_in = min(retry_in or wait, wait)
        draining = list(
            deployment.replicas.filter(state=ReplicaState.DRAINING).values_list("pk", flat=True)
        )
    if drained:
        routing_state.changed(deployment_id)
    return startable, draining, retry_in


def _refresh_status(deployment_id: int) -> None:
    # Under the row lock, so two replicas turning ready at once cannot each count only
    # themselves and leave the deployment "deploying" with every replica ready.
    with transaction.atomic():
        deployment = _lock_deployment(deployment_id)
        if deployment is not None:
            _settle_status(deployment)


def _lock_deployment(deployment_id: int) -> Deployment | None:
    """The deployment's row, locked until the transaction ends; None if it is going away."""
    deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
    if deployment is None or deployment.status == DeploymentStatus.DELETING:
        return None
    return deployment


def _settle_status(deployment: Deployment) -> None:
    counts = {state: 0 for state in ReplicaState.values}
    for state in deployment.replicas.values_list("state", flat=True):
        counts[state] += 1
    desired = max(
        deployment.min_replicas, min(deployment.desired_replicas, deployment.max_replicas)
    )
    ready = counts[ReplicaState.READY]
    pending = (
        deployment.replicas.filter(state=ReplicaState.PENDING).exclude(pending_reason="").first()
    )
    if desired == 0 and ready == 0:
        status, message = (
            DeploymentStatus.SCALED_TO_ZERO,
            "Scaled to zero; a request starts a replica",
        )
    elif (
        ready >= desired and not counts[ReplicaState.STARTING] and not counts[ReplicaState.PENDING]
    ):
        status, message = DeploymentStatus.RUNNING, f"{ready} of {desired} replicas ready"
    elif pending is not None:
        status, message = (
            DeploymentStatus.DEGRADED if ready else DeploymentStatus.PENDING,
            pending.pending_reason,
        )
    else:
        status = DeploymentStatus.DEPLOYING
        message = f"{ready} of {desired} replicas ready"
    _set_status(deployment, status, message)


def _set_status(deployment: Deployment, status: str, message: str) -> None:
    Deployment.objects.filter(pk=deployment.pk).exclude(status=DeploymentStatus.DELETING).update(
        status=status, status_message=message[:500]
    )


# -- start ----------------------------------------------------------------------------


@shared_task(**{**ENGINE_TASK, "max_retries": 10})
def start_replica(replica_id: int) -> None:
    """Place a pending replica, start its container and wait until it answers ready."""
    replica = _claim_and_place(replica_id, claimed_by=start_replica.request.hostname or "")
    if replica is None:
        return
    node = replica.node
    version = replica.model_version
    deployment = replica.deployment
    try:
        _ensure_image(node, version.image)
        container = docker_engine.run_replica(
            node.engine_url,
            image=version.image,
            name=f"orch-{deployment.pk}-{replica.pk}-{int(time.time())}",
            labels={
                LABEL_MANAGED: "true",
                **container_labels(deployment.pk),
                LABEL_REPLICA: str(replica.pk),
                LABEL_VERSION: version.version_id,
            },
            cpu=version.requested_cpu(),
            memory_bytes=version.requested_memory(),
            env={"MODEL_CONCURRENCY": str(max(1, deployment.target_concurrency))},
        )
    except docker_engine.EngineUnreachable as exc:
        # Give the claim back so the retry (or another worker) can place it again.
        Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
            state=ReplicaState.PENDING, node=None
        )
        _mark_unreachable(node, exc)
        raise
    except docker_engine.EngineError as exc:
        _fail(replica, f"could not start the container: {exc}", event="replica_failed")
        reconcile_deployment.apply_async((deployment.pk,), countdown=1)
        return

    address = f"{node.address}:{container.host_port}"
    updated = Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
        container_id=container.id, address=address, started_at=timezone.now()
    )
    if not updated:
        # Drained or deleted while we were starting it: do not leave the container behind.
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        return

    error = _wait_until_ready(node.engine_url, container.id, address)
    if error:
        logs = docker_engine.container_logs(node.engine_url, container.id, tail=30)
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        replica.refresh_from_db()
        _fail(replica, f"{error}\n{logs}".strip(), event="replica_failed")
        reconcile_deployment.apply_async((deployment.pk,), countdown=1)
        return
    with transaction.atomic():
        # The deployment's lock first, as _plan takes it: the replica turns ready and the
        # status says so in one commit, so no reader sees one without the other.
        locked = _lock_deployment(deployment.pk)
        became_ready = Replica.objects.filter(pk=replica.pk, state=ReplicaState.STARTING).update(
            state=ReplicaState.READY, ready_at=timezone.now(), last_error="", pending_reason=""
        )
        if became_ready and locked is not None:
            _settle_status(locked)
    if not became_ready:
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
        return
    deployment.record(
        "replica_ready", f"Replica {replica.pk} ready on {node.name} at {address}", source="start"
    )
    routing_state.changed(deployment.pk)
    # A ready replica can unblock a rollover or settle the status.
    reconcile_deployment.delay(deployment.pk)


def _claim_and_place(replica_id: int, *, claimed_by: str = "") -> Replica | None:
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
        cpu, memory = version.requested_cpu(), version.requested_memory()
        # Lock the nodepool's nodes so concurrent placements see each other's replicas.
        nodes = list(
            Node.objects.select_for_update()
            .filter(nodepool_id=replica.deployment.nodepool_id, status=NodeStatus.READY)
            .order_by("pk")
        )
        usage = {n.pk: n for n in Node.objects.with_usage().filter(pk__in=[n.pk for n in nodes])}
        rooms = [
            NodeRoom(n.pk, n.name, float(usage[n.pk].free_cpu), int(usage[n.pk].free_memory))
            for n in nodes
        ]
        placement = choose_node(rooms, cpu, memory)
        if placement.node_id is None:
            if replica.pending_reason != placement.reason:
                Replica.objects.filter(pk=replica.pk).update(pending_reason=placement.reason)
                replica.deployment.record("pending", placement.reason, source="placement")
            return None
        Replica.objects.filter(pk=replica.pk, state=ReplicaState.PENDING).update(
            state=ReplicaState.STARTING,
            node_id=placement.node_id,
            pending_reason="",
            attempts=replica.attempts + 1,
            claimed_by=claimed_by,
            claimed_at=timezone.now(),
        )
    return Replica.objects.select_related("deployment", "model_version", "node").get(pk=replica.pk)


def _ensure_image(node: Node, image: str) -> None:
    if docker_engine.image_exists(node.engine_url, image):
        return
    # Images are built on the default engine; other nodes receive a copy.
    docker_engine.transfer_image(settings.DOCKER_URL, node.engine_url, image)


def _wait_until_ready(engine_url: str, container_id: str, address: str) -> str:
    deadline = time.monotonic() + settings.REPLICA_READY_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(f"http://{address}/healthz")
                if response.status_code == 200:
                    return ""
                if response.status_code == 500:
                    return f"model failed to load: {response.json().get('error', response.text)}"
            except (httpx.HTTPError, ValueError):
                pass
            try:
                state = docker_engine.inspect_container(engine_url, container_id)
            except docker_engine.NotFoundError:
                return "container disappeared before it was ready"
            if state.status not in ("running", "created", "restarting"):
                return f"container exited with code {state.exit_code} before it was ready"
            time.sleep(0.25)
    return f"not ready after {settings.REPLICA_READY_TIMEOUT:.0f} s"


def _healthy(address: str) -> bool:
    if not address:
        return False
    for _ in range(2):
        try:
            response = httpx.get(f"http://{address}/healthz", timeout=3.0)
            if response.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


# -- stop -----------------------------------------------------------------------------


@shared_task(**ENGINE_TASK)
def stop_replica(replica_id: int) -> None:
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
        _wait_drained(replica.address)
        try:
            docker_engine.stop_and_remove(node.engine_url, replica.container_id, timeout=10)
        except docker_engine.EngineUnreachable as exc:
            _mark_unreachable(node, exc)
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
        _refresh_status(replica.deployment_id)


def _wait_drained(address: str) -> None:
    deadline = time.monotonic() + settings.REPLICA_DRAIN_GRACE
    while address and time.monotonic() < deadline:
        try:
            in_flight = (
                httpx.get(f"http://{address}/healthz", timeout=2.0).json().get("in_flight", 0)
            )
        except (httpx.HTTPError, ValueError):
            return
        if not in_flight:
            return
        time.sleep(0.2)


# -- delete ---------------------------------------------------------------------------


@shared_task(**ENGINE_TASK)
def delete_deployment(deployment_id: int) -> None:
    """Remove every container of the deployment, found by label on every node, then the row.

    An unreachable node does not hold the deletion up: its containers are recorded as
    orphaned and removed when the node answers again (``remove_orphaned_containers``).
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
            _remove_containers(node, deployment.pk)
        except docker_engine.EngineUnreachable as exc:
            _mark_unreachable(node, exc)
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


def _remove_containers(node: Node, deployment_key: int) -> None:
    for container in docker_engine.list_containers(
        node.engine_url, labels=container_labels(deployment_key)
    ):
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=10)


@shared_task(acks_late=True, ignore_result=True)
def remove_orphaned_containers(node_id: int) -> int:
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
            _remove_containers(node, orphan.deployment_key)
        except docker_engine.EngineUnreachable as exc:
            _mark_unreachable(node, exc)
            break
        OrphanedContainers.objects.filter(pk=orphan.pk).delete()
        log.info("removed the containers of deleted deployment %s from %s", orphan, node.name)
        settled += 1
    return settled


# -- periodic -------------------------------------------------------------------------


@shared_task(ignore_result=True)
def reconcile_all() -> int:
    ids = list(Deployment.objects.active().values_list("pk", flat=True))
    for deployment_id in ids:
        reconcile_deployment.delay(deployment_id)
    # A deletion interrupted by a crash is picked up again.
    for deployment_id in Deployment.objects.filter(status=DeploymentStatus.DELETING).values_list(
        "pk", flat=True
    ):
        delete_deployment.delay(deployment_id)
    return len(ids)


@shared_task(ignore_result=True)
def autoscale_all() -> int:
    """Evaluate every deployment's autoscaling policy; reconcile the ones that change."""
    from orchestration.deployments.autoscale import evaluate_all

    changes = evaluate_all()
    for change in changes:
        deployment = Deployment.objects.filter(pk=change.deployment_id).first()
        if deployment is None:
            continue
        deployment.record(
            "autoscale",
            f"Replicas {change.before} → {change.after}: {change.reason}",
            source="autoscaler",
        )
        reconcile_deployment.delay(change.deployment_id)
    return len(changes)


@shared_task(ignore_result=True)
def prune_history() -> int:
    from orchestration.deployments.autoscale import prune

    return prune()


@shared_task(ignore_result=True)
def reconcile_nodepool(nodepool_id: int) -> None:
    for deployment_id in (
        Deployment.objects.active()
        .filter(Q(nodepool_id=nodepool_id) | Q(replicas__node__nodepool_id=nodepool_id))
        .values_list("pk", flat=True)
        .distinct()
    ):
        reconcile_deployment.delay(deployment_id)


# -- starts cut off by a worker's death ------------------------------------------------


@worker_ready.connect
def _give_back_interrupted_starts(sender, **kwargs) -> None:
    """A worker starts under the node name of one that died before it (Celery node names
    are unique): the starts that one had claimed will never finish, so hand them back."""
    recover_interrupted_starts.delay(sender.hostname, timezone.now().isoformat())


@shared_task(**ENGINE_TASK)
def recover_interrupted_starts(hostname: str, before: str) -> int:
    """Return replicas that `hostname` claimed before `before` to pending, containers gone."""
    cutoff = datetime.fromisoformat(before)
    stale = Replica.objects.filter(
        state=ReplicaState.STARTING, claimed_by=hostname, claimed_at__lt=cutoff
    ).select_related("node", "deployment")
    recovered = 0
    for replica in stale:
        # Its container may exist without the row knowing it: remove it, or the next
        # start would give the replica two.
        _remove_replica_containers(replica)
        reset = Replica.objects.filter(
            pk=replica.pk, state=ReplicaState.STARTING, claimed_by=hostname
        ).update(
            state=ReplicaState.PENDING,
            node=None,
            container_id="",
            address="",
            started_at=None,
            claimed_by="",
            claimed_at=None,
        )
        if reset:
            recovered += 1
            replica.deployment.record(
                "replica_recovered",
                f"Replica {replica.pk}: its start was cut off (worker {hostname} stopped); "
                "starting it again",
                source=SOURCE,
            )
            reconcile_deployment.delay(replica.deployment_id)
    return recovered


def _start_deadline() -> float:
    # The longest a start can honestly take: copying the image to the node, then the
    # ready timeout; past that a `starting` replica has lost its worker.
    return settings.REPLICA_READY_TIMEOUT + 600.0


def _remove_replica_containers(replica: Replica) -> None:
    if replica.node is None:
        return
    labels = {LABEL_INSTANCE: settings.INSTANCE_ID, LABEL_REPLICA: str(replica.pk)}
    for container in docker_engine.list_containers(replica.node.engine_url, labels=labels):
        docker_engine.stop_and_remove(replica.node.engine_url, container.id, timeout=5)


# -- helpers --------------------------------------------------------------------------


def _fail(replica: Replica, error: str, *, event: str) -> None:
    failed = Replica.objects.filter(
        pk=replica.pk, state__in=[*LIVE_STATES, ReplicaState.DRAINING]
    ).update(state=ReplicaState.FAILED, last_error=error[-4000:], stopped_at=timezone.now())
    if failed:
        first_line = error.splitlines()[0] if error else "failed"
        replica.deployment.record(event, f"Replica {replica.pk}: {first_line}", source=SOURCE)
        routing_state.changed(replica.deployment_id)


def _mark_unreachable(node: Node, exc: Exception) -> None:
    Node.objects.filter(pk=node.pk).update(
        status=NodeStatus.UNREACHABLE, status_message=str(exc)[:500]
    )
