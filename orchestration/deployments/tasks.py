"""Celery tasks of deployments: thin wrappers around reconcile and lifecycle.

Every task takes ids, lets the module it calls re-fetch the rows (which exits quietly when
they are gone), queues the follow-up work that module returns, and retries only
``EngineUnreachable``, with backoff. Engine tasks are idempotent, so they are acknowledged
late and redelivered after a crash.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from celery.signals import worker_ready
from django.db.models import Q
from django.utils import timezone

from orchestration import docker_engine
from orchestration.deployments import autoscale, lifecycle, runtimes
from orchestration.deployments.models import Deployment, DeploymentStatus

ENGINE_TASK = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (docker_engine.EngineUnreachable,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": None,
}


@shared_task(**ENGINE_TASK)
def reconcile_deployment(deployment_id: int) -> None:
    """Compare the deployment's replicas with its desired count and act on the difference."""
    outcome = runtimes.reconcile_deployment(deployment_id)
    if outcome is None:
        return
    for replica_id in outcome.start:
        start_replica.delay(replica_id)
    for replica_id in outcome.drain:
        stop_replica.delay(replica_id)
    if outcome.retry_in is not None:
        reconcile_deployment.apply_async((deployment_id,), countdown=outcome.retry_in)


@shared_task(**{**ENGINE_TASK, "max_retries": 10})
def start_replica(replica_id: int) -> None:
    """Place a pending replica, start its container and wait until it answers ready."""
    again = lifecycle.start(replica_id, claimed_by=start_replica.request.hostname or "")
    if again is not None:
        reconcile_deployment.apply_async((again.deployment_id,), countdown=again.countdown or None)


@shared_task(**ENGINE_TASK)
def stop_replica(replica_id: int) -> None:
    """Wait for a draining replica's in-flight requests (up to the grace), then remove it."""
    lifecycle.stop(replica_id)


@shared_task(**ENGINE_TASK)
def delete_deployment(deployment_id: int) -> None:
    """Remove the deployment's containers (or Swarm service), then the row."""
    runtimes.delete_deployment(deployment_id)


@shared_task(acks_late=True, ignore_result=True)
def remove_orphaned_containers(node_id: int) -> int:
    """Remove deleted deployments' containers from a node that is reachable again."""
    return lifecycle.remove_orphans(node_id)


@worker_ready.connect
def _give_back_interrupted_starts(sender, **kwargs) -> None:
    # Only starts claimed before this moment: later ones are this worker's own.
    recover_interrupted_starts.delay(sender.hostname, timezone.now().isoformat())


@shared_task(**ENGINE_TASK)
def recover_interrupted_starts(hostname: str, before: str) -> int:
    """Give back the starts a dead worker of this name had claimed; reconcile their deployments."""
    touched = lifecycle.recover_interrupted_starts(hostname, datetime.fromisoformat(before))
    for deployment_id in sorted(set(touched)):
        reconcile_deployment.delay(deployment_id)
    return len(touched)


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
    """Evaluate every deployment's autoscaling policy; reconcile the ones that change.

    A scale-up or -down that waits only for its delay is decided again the moment the
    delay ends, not at the next beat (up to AUTOSCALE_INTERVAL later)."""
    tick = autoscale.apply_all()
    for deployment_id in tick.changed:
        reconcile_deployment.delay(deployment_id)
    if tick.next_due is not None and autoscale.claim_due_tick(tick.next_due):
        autoscale_all.apply_async(countdown=tick.next_due + autoscale.DUE_MARGIN)
    return len(tick.changed)


@shared_task(ignore_result=True)
def prune_history() -> int:
    return autoscale.prune()


@shared_task(ignore_result=True)
def reconcile_nodepool(nodepool_id: int) -> None:
    for deployment_id in (
        Deployment.objects.active()
        .filter(Q(nodepool_id=nodepool_id) | Q(replicas__node__nodepool_id=nodepool_id))
        .values_list("pk", flat=True)
        .distinct()
    ):
        reconcile_deployment.delay(deployment_id)
