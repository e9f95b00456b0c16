"""Reconcile: make the database agree with the engines, then plan replica changes.

`reconcile(deployment_id)` observes what each node's engine runs for the deployment
(exits, lost nodes, leftovers, starts whose worker died), then, under the deployment's row
lock, turns `planning.plan_replicas` into rows: pending replicas created, extra ones
marked draining. It returns what to queue; the task in `tasks.py` queues it, so this
module never imports the tasks.

Work is claimed with conditional updates (``UPDATE ... WHERE state = old``) so that two
reconciles at once, or a task run twice, converge on the same containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from orchestration import docker_engine
from orchestration.catalog.models import BuildStatus
from orchestration.deployments import health, routing_state
from orchestration.deployments.containers import (
    LABEL_REPLICA,
    container_labels,
    mark_unreachable,
    remove_replica_containers,
)
from orchestration.deployments.models import (
    LIVE_STATES,
    Deployment,
    DeploymentStatus,
    Replica,
    ReplicaState,
)
from orchestration.deployments.planning import LiveReplica, plan_replicas
from orchestration.nodepools.models import Node, NodeStatus

SOURCE = "reconcile"
MAX_BACKOFF_SECONDS = 300
# A replica that served this long before it died is not crash-looping (a kill, an OOM, a
# lost node): its replacement starts at once. One that never got ready, or died sooner,
# counts toward the backoff.
CRASH_LOOP_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    start: list[int]  # pending replicas to start
    drain: list[int]  # draining replicas to stop
    retry_in: int | None  # seconds until the next reconcile is due, if one is


def reconcile(deployment_id: int) -> Outcome | None:
    """Compare the deployment's replicas with its desired count and plan the difference."""
    deployment = load_for_reconcile(deployment_id)
    if deployment is None:
        return None
    observe(deployment)
    outcome = _apply_plan(deployment.pk)
    refresh_status(deployment.pk)
    return outcome


def load_for_reconcile(deployment_id: int) -> Deployment | None:
    """The deployment to reconcile, with its version and nodepool; None when it is gone,
    being deleted, or its image is not built (the status then says what it waits for).
    Every runtime backend starts here."""
    deployment = (
        Deployment.objects.select_related("model_version", "nodepool")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None or deployment.status == DeploymentStatus.DELETING:
        return None
    return deployment if image_ready(deployment) else None


def image_ready(deployment: Deployment) -> bool:
    """Whether the version's image is built; if not, the status says what it waits for."""
    version = deployment.model_version
    if version.build_status == BuildStatus.FAILED:
        set_status(deployment, DeploymentStatus.FAILED, f"Image build of v{version.number} failed")
        return False
    if version.build_status != BuildStatus.READY:
        set_status(
            deployment,
            DeploymentStatus.PENDING,
            f"Waiting for the image of v{version.number} ({version.get_build_status_display()})",
        )
        return False
    return True


def start_deadline() -> float:
    # The longest a start can honestly take: copying the image to the node, then the
    # ready timeout; past that a `starting` replica has lost its worker.
    return settings.REPLICA_READY_TIMEOUT + 600.0


def observe(deployment: Deployment) -> None:
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
                    fail(replica, f"node {node.name} is unreachable", event="replica_lost")
            continue
        seen |= _observe_node(node, replicas, deployment.pk)
    stale_before = timezone.now() - timedelta(seconds=start_deadline())
    for replica in replicas.values():
        if (
            replica.state == ReplicaState.STARTING
            and replica.claimed_at is not None
            and replica.claimed_at < stale_before
        ):
            # Its worker is gone and did not come back under the same name to give it back.
            fail(replica, "its start never finished (worker stopped?)", event="replica_lost")
            remove_replica_containers(replica.node, replica.pk)
        elif replica.state == ReplicaState.READY and replica.pk not in seen:
            node = replica.node
            if node is not None and node.status != NodeStatus.UNREACHABLE:
                fail(replica, "container is gone", event="replica_exited")
        elif replica.state == ReplicaState.READY and not health.healthy(
            replica.address, on_bridge=replica.on_bridge
        ):
            fail(replica, "stopped answering health checks", event="replica_unhealthy")
            if replica.node is not None and replica.container_id:
                docker_engine.stop_and_remove(replica.node.engine_url, replica.container_id)


def _observe_node(node: Node, replicas: dict[int, Replica], deployment_pk: int) -> set[int]:
    """The replicas whose containers run on `node`; exited and stray containers go."""
    try:
        containers = docker_engine.list_containers(
            node.engine_url, labels=container_labels(deployment_pk)
        )
    except docker_engine.EngineUnreachable as exc:
        mark_unreachable(node, exc)
        raise
    seen: set[int] = set()
    for container in containers:
        replica_id = int(container.labels.get(LABEL_REPLICA, "0") or 0)
        replica = replicas.get(replica_id)
        alive = container.status in health.ALIVE_STATUSES
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
            fail(
                replica,
                f"container exited with code {container.exit_code}\n{logs}".strip(),
                event="replica_exited",
            )
            docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)
    return seen


def crash_loop_failures(deployment: Deployment, now) -> int:
    """Replicas failed in the last 10 minutes that never served CRASH_LOOP_SECONDS."""
    return (
        deployment.replicas.filter(
            state=ReplicaState.FAILED, stopped_at__gte=now - timedelta(minutes=10)
        )
        .filter(
            Q(ready_at__isnull=True)
            | Q(stopped_at__lt=F("ready_at") + timedelta(seconds=CRASH_LOOP_SECONDS))
        )
        .count()
    )


def _backoff(failures: int) -> int:
    return min(MAX_BACKOFF_SECONDS, 5 * 2 ** max(failures - 1, 0))


def _apply_plan(deployment_id: int) -> Outcome:
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
        live = {r.pk: r for r in deployment.replicas.filter(state__in=LIVE_STATES)}
        plan = plan_replicas(
            deployment.effective_desired_replicas(),
            [
                LiveReplica(
                    r.pk,
                    r.state,
                    r.model_version_id == deployment.model_version_id,
                    r.created_at.timestamp(),
                )
                for r in live.values()
            ],
        )
        retry_in = None
        if plan.create:
            failures = crash_loop_failures(deployment, now)
            delay = _backoff(failures) if failures else 0
            Replica.objects.bulk_create(
                Replica(
                    deployment=deployment,
                    model_version=deployment.model_version,
                    retry_at=now + timedelta(seconds=delay) if delay else None,
                )
                for _ in range(plan.create)
            )
            retry_in = delay or None
        drained = _take_out([live[pk] for pk in plan.remove], now)
        desired = deployment.effective_desired_replicas()
        if plan.create:
            deployment.record(
                "scale", f"Adding {plan.create} replica(s) (desired {desired})", source=SOURCE
            )
        if drained:
            deployment.record(
                "scale", f"Draining {len(drained)} replica(s) (desired {desired})", source=SOURCE
            )
        startable, later = _startable(deployment, now)
        if later is not None:
            retry_in = min(retry_in or later, later)
        draining = list(
            deployment.replicas.filter(state=ReplicaState.DRAINING).values_list("pk", flat=True)
        )
    if drained:
        routing_state.changed(deployment_id)
    return Outcome(startable, draining, retry_in)


def _take_out(replicas: list[Replica], now) -> list[int]:
    """Pending replicas stop at once (they have no container); others are marked draining."""
    drained = []
    for replica in replicas:
        if replica.state == ReplicaState.PENDING:
            Replica.objects.filter(pk=replica.pk, state=ReplicaState.PENDING).update(
                state=ReplicaState.STOPPED, stopped_at=now
            )
            continue
        if Replica.objects.filter(pk=replica.pk, state=replica.state).update(
            state=ReplicaState.DRAINING
        ):
            drained.append(replica.pk)
    return drained


def _startable(deployment: Deployment, now) -> tuple[list[int], int | None]:
    """Pending replicas whose backoff is over, and seconds until the next one's ends."""
    pending = deployment.replicas.filter(state=ReplicaState.PENDING)
    startable = list(
        pending.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now)).values_list("pk", flat=True)
    )
    later = pending.filter(retry_at__gt=now).order_by("retry_at").first()
    if later is None:
        return startable, None
    return startable, max(1, int((later.retry_at - now).total_seconds()) + 1)


# -- status ---------------------------------------------------------------------------


def refresh_status(deployment_id: int) -> None:
    # Under the row lock, so two replicas turning ready at once cannot each count only
    # themselves and leave the deployment "deploying" with every replica ready.
    with transaction.atomic():
        deployment = lock_deployment(deployment_id)
        if deployment is not None:
            settle_status(deployment)


def lock_deployment(deployment_id: int) -> Deployment | None:
    """The deployment's row, locked until the transaction ends; None if it is going away."""
    deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
    if deployment is None or deployment.status == DeploymentStatus.DELETING:
        return None
    return deployment


def settle_status(deployment: Deployment) -> None:
    counts = {state: 0 for state in ReplicaState.values}
    for state in deployment.replicas.values_list("state", flat=True):
        counts[state] += 1
    desired = deployment.effective_desired_replicas()
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
    set_status(deployment, status, message)


def set_status(deployment: Deployment, status: str, message: str) -> None:
    Deployment.objects.filter(pk=deployment.pk).exclude(status=DeploymentStatus.DELETING).update(
        status=status, status_message=message[:500]
    )


def fail(replica: Replica, error: str, *, event: str) -> None:
    failed = Replica.objects.filter(
        pk=replica.pk, state__in=[*LIVE_STATES, ReplicaState.DRAINING]
    ).update(state=ReplicaState.FAILED, last_error=error[-4000:], stopped_at=timezone.now())
    # The caller's copy too: a check further on must not treat it as still ready (a health
    # probe of a dead container's address waits out its timeout).
    replica.state = ReplicaState.FAILED
    if failed:
        first_line = error.splitlines()[0] if error else "failed"
        replica.deployment.record(event, f"Replica {replica.pk}: {first_line}", source=SOURCE)
        routing_state.changed(replica.deployment_id)
