"""The swarm runtime: a deployment on a swarm nodepool is one Swarm service.

Reconcile states the service (image, resources, hardening, health check, host-mode
port, placement constraints, rolling update settings, replica count) through the
manager, and mirrors the service's tasks as the deployment's replicas: Swarm schedules,
restarts and replaces them; the router reaches each running task at its node's address
and published port. While tasks come and go, reconcile looks again every second.

Only tasks.py calls this module (through runtimes.py); it raises EngineUnreachable for
the task to retry.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from orchestration import docker_engine
from orchestration.catalog.models import ModelVersion
from orchestration.deployments import health, routing_state, swarm_plan
from orchestration.deployments.containers import LABEL_VERSION, container_labels, ensure_image
from orchestration.deployments.models import (
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    Replica,
    ReplicaState,
)
from orchestration.deployments.reconcile import (
    Outcome,
    load_for_reconcile,
    refresh_status,
    set_status,
)
from orchestration.docker_engine import swarm
from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Node, NodeStatus

log = logging.getLogger(__name__)
SOURCE = "swarm"
# While tasks start, stop or roll, reconcile looks again this soon.
FOLLOW_SECONDS = 1
TERMINAL = (ReplicaState.STOPPED, ReplicaState.FAILED)


def reconcile(deployment_id: int) -> Outcome | None:
    deployment = load_for_reconcile(deployment_id)
    if deployment is None:
        return None
    version, pool = deployment.model_version, deployment.nodepool
    if version.num_accelerators:
        set_status(
            deployment,
            DeploymentStatus.FAILED,
            "This model needs accelerators; swarm nodepools run CPU replicas only "
            "(deploy it on a docker nodepool)",
        )
        return None
    nodes = swarm_nodes.sync(pool)
    for node in nodes:
        if node.status == NodeStatus.READY and node.engine_url:
            # No registry: each node that may run a task gets a copy of the image.
            ensure_image(node, version.image)
    desired = deployment.effective_desired_replicas()
    spec = swarm_plan.service_spec(
        instance_id=settings.INSTANCE_ID,
        deployment_id=deployment.pk,
        slug=deployment.slug,
        version_id=version.version_id,
        image=version.image,
        cpu=version.requested_cpu(),
        memory_bytes=version.requested_memory(),
        target_concurrency=deployment.target_concurrency,
        config=version.config,
        replicas=desired,
        constraints=swarm_nodes.label_constraints(pool.node_labels),
    )
    service = _apply_service(pool.manager_url, deployment, spec)
    found = swarm.tasks(pool.manager_url, service.id)
    states = _mirror_tasks(deployment, found, {n.swarm_node_id: n for n in nodes})
    refresh_status(deployment.pk)
    if swarm_plan.converged(states, desired, service.update_state):
        return Outcome([], [], None)
    return Outcome([], [], FOLLOW_SECONDS)


def _apply_service(url: str, deployment: Deployment, spec: swarm.ServiceSpec) -> swarm.ServiceInfo:
    """Create the service, or update it where it differs from `spec`; its state now."""
    services = swarm.find_services(url, container_labels(deployment.pk))
    for extra in services[1:]:
        # Two creates raced (two reconciles before the first was visible): keep one.
        swarm.remove_service(url, extra.id)
    if not services:
        swarm.create_service(url, spec)
        deployment.record(
            "swarm_service",
            f"Swarm service {spec.name} created with {spec.replicas} replica(s)",
            source=SOURCE,
        )
    else:
        current = services[0]
        rolled = current.labels.get(swarm_plan.LABEL_SPEC) != spec.labels[swarm_plan.LABEL_SPEC]
        if not rolled and current.replicas == spec.replicas:
            return current  # as wanted: no second call to the manager
        try:
            swarm.update_service(url, current.id, current.version, spec)
        except docker_engine.EngineError as exc:
            if "update out of sequence" not in exc.message:
                raise
            # Another reconcile updated it first; the follow-up one sees its result.
        if rolled:
            deployment.record(
                "swarm_rollout",
                f"Rolling the Swarm service over to {spec.image}, one task at a time",
                source=SOURCE,
            )
    return swarm.find_services(url, container_labels(deployment.pk))[0]


def _mirror_tasks(
    deployment: Deployment, found: list[swarm.SwarmTask], nodes: dict[str, Node]
) -> list[str]:
    """Replica rows for the service's tasks; returns the live states. Routers hear of
    any change in which replicas are ready."""
    rows = {r.task_id: r for r in deployment.replicas.exclude(task_id="")}
    versions = {
        v.version_id: v.pk for v in ModelVersion.objects.filter(model_id=deployment.model_id)
    }
    routing_changed = False
    states: list[str] = []
    now = timezone.now()
    for task in found:
        want = swarm_plan.task_replica(task)
        node = nodes.get(task.node_id)
        row = rows.pop(task.id, None)
        if row is None:
            if want.state in TERMINAL:
                continue  # ended before we ever saw it: history, not a replica
            row = Replica.objects.create(
                deployment=deployment,
                model_version_id=versions.get(
                    task.labels.get(LABEL_VERSION, ""), deployment.model_version_id
                ),
                task_id=task.id,
                state=ReplicaState.PENDING,
            )
        state, reason = want.state, want.reason
        address = f"{node.address}:{task.published_port}" if node and task.published_port else ""
        # Swarm calls a task running once its health check passed on the node; the
        # router's side must reach it too.
        newly_ready = state == ReplicaState.READY and row.state != ReplicaState.READY
        if newly_ready and not health.healthy(address):
            state, reason = ReplicaState.STARTING, f"not answering at {address} yet"
        if state not in TERMINAL:
            states.append(state)
        routing_changed |= _update_row(row, state, reason, task, node, address, now)
    for gone in rows.values():
        # The task left Swarm's history (or the service was replaced).
        if gone.state not in TERMINAL:
            routing_changed |= _update_row(gone, ReplicaState.STOPPED, "", None, None, "", now)
    if routing_changed:
        routing_state.changed(deployment.pk)
    return states


def _update_row(row, state, reason, task, node, address, now) -> bool:
    """Write the row where it changed; whether the router's view (ready or not) changed."""
    fields: dict = {}
    if row.state != state:
        fields["state"] = state
        if state == ReplicaState.READY:
            fields["ready_at"] = now
        if state in (ReplicaState.STARTING, ReplicaState.READY) and row.started_at is None:
            fields["started_at"] = now
        if state in TERMINAL:
            fields["stopped_at"] = now
    if state == ReplicaState.FAILED and reason and row.last_error != reason:
        fields["last_error"] = reason[-4000:]
    if state == ReplicaState.PENDING and row.pending_reason != reason:
        fields["pending_reason"] = reason[:500]
    elif state != ReplicaState.PENDING and row.pending_reason:
        fields["pending_reason"] = ""
    if node is not None and row.node_id != node.pk:
        fields["node_id"] = node.pk
    if task is not None and task.container_id and row.container_id != task.container_id:
        fields["container_id"] = task.container_id
    if address and row.address != address:
        fields["address"] = address
    if not fields:
        return False
    # A row that ended stays ended (a task id is never reused).
    updated = Replica.objects.filter(pk=row.pk).exclude(state__in=TERMINAL).update(**fields)
    if updated and "state" in fields:
        _record(row, state, reason, node)
    was_ready, is_ready = row.state == ReplicaState.READY, state == ReplicaState.READY
    return bool(updated) and (was_ready != is_ready or (is_ready and "address" in fields))


def _record(row: Replica, state: str, reason: str, node: Node | None) -> None:
    where = f" on {node.name}" if node else ""
    if state == ReplicaState.READY:
        kind, message = "replica_ready", f"Replica {row.pk} ready{where}"
    elif state == ReplicaState.FAILED:
        kind, message = "replica_failed", f"Replica {row.pk}: {reason.splitlines()[0]}"
    elif state == ReplicaState.STOPPED and row.state in (ReplicaState.READY, ReplicaState.DRAINING):
        kind, message = "replica_stopped", f"Replica {row.pk} stopped{where}"
    else:
        return
    DeploymentEvent.objects.create(
        deployment_id=row.deployment_id, kind=kind, message=message, source=SOURCE
    )


def delete(deployment_id: int) -> None:
    """Remove the deployment's Swarm service (Swarm stops its tasks), then the row."""
    deployment = Deployment.objects.select_related("nodepool").filter(pk=deployment_id).first()
    if deployment is None:
        return
    Replica.objects.filter(deployment=deployment).exclude(state__in=TERMINAL).update(
        state=ReplicaState.DRAINING
    )
    routing_state.changed(deployment_id)
    url = deployment.nodepool.manager_url
    for service in swarm.find_services(url, container_labels(deployment.pk)):
        swarm.remove_service(url, service.id)
    Deployment.objects.filter(pk=deployment_id).delete()
    routing_state.changed(deployment_id)
