"""Deployment operations, one function each, called by the portal, the API, the predict
path's cold start and the CLI's server side (the API). They validate with the models'
rules, take the locks, write the event log and queue tasks once the transaction commits
(so views never wait on Docker). Refusals are ``orchestration.errors`` exceptions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orchestration.accounts import events
from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.constants import AUTOSCALE_DEFAULTS
from orchestration.db import after_commit, validate_instance
from orchestration.deployments import routing_state, tasks
from orchestration.deployments.models import (
    Deployment,
    DeploymentStatus,
    ScalingDecision,
    autoscale_errors,
)
from orchestration.errors import Conflict, Invalid
from orchestration.nodepools.models import Nodepool

SETTINGS = tuple(AUTOSCALE_DEFAULTS)
log = logging.getLogger(__name__)
AUTOSCALE_KICK_MS = 1000
_kick_lock = threading.Lock()
_last_kick = -1e9

# What a change reads like in the event log: (setting, old, new) -> text.
Describe = Callable[[str, object, object], str]


def describe_change(name: str, old, new) -> str:
    if name == "model_version":
        return f"version v{old} -> v{new}"
    return f"{name} {old} -> {new}"


def request_reconcile(deployment: Deployment | int) -> None:
    """Queue a reconcile of the deployment once the current transaction commits."""
    pk = deployment if isinstance(deployment, int) else deployment.pk
    after_commit(
        f"queue a reconcile of deployment {pk}", lambda: tasks.reconcile_deployment.delay(pk)
    )


def request_autoscale() -> None:
    """Fresh traffic was recorded: run the autoscaling tick now instead of at the next beat.

    At most once a second across every web process (a Redis ``SET NX PX``; without Redis,
    once a second per process). Concurrent ticks are safe: each applies its changes with
    a conditional UPDATE on the count it read.
    """
    if not _claim_kick():
        return
    after_commit("queue an autoscale tick", tasks.autoscale_all.delay)


def _claim_kick() -> bool:
    global _last_kick
    client = routing_state.redis_client()
    if client is not None:
        try:
            key = f"orchestration:{settings.INSTANCE_ID}:autoscale-kick"
            return bool(client.set(key, "1", nx=True, px=AUTOSCALE_KICK_MS))
        except Exception as exc:  # noqa: BLE001 - Redis down: fall back to this process
            log.warning("could not claim the autoscale kick in Redis: %s", exc)
    with _kick_lock:
        now = time.monotonic()
        if now - _last_kick < AUTOSCALE_KICK_MS / 1000:
            return False
        _last_kick = now
        return True


def request_cold_start(deployment_id: int) -> bool:
    """A request waits at zero replicas: want one, say why, and queue a reconcile.

    Called by the predict router; only the first waiting request raises the count.
    False when the deployment is gone or being deleted: nothing will start.
    """
    if (
        not Deployment.objects.filter(pk=deployment_id)
        .exclude(status=DeploymentStatus.DELETING)
        .exists()
    ):
        return False
    with transaction.atomic():
        claimed = Deployment.objects.filter(pk=deployment_id, desired_replicas=0).update(
            desired_replicas=1
        )
        if claimed:
            deployment = Deployment.objects.get(pk=deployment_id)
            deployment.record(
                "cold_start", "A request is waiting: starting a replica", source="router"
            )
            ScalingDecision.objects.create(
                deployment=deployment,
                at=timezone.now(),
                wanted=1,
                applied=1,
                reason="cold start: request waiting at 0 replicas",
            )
        # Also when already wanted: a replica may have failed; reconcile is idempotent.
        request_reconcile(deployment_id)
    return True


def _check_autoscale(config: dict) -> None:
    errors = autoscale_errors(config)
    if errors:
        raise Invalid(errors[0]["message"], errors=errors)


def _check_version(model: Model, version: ModelVersion, current: ModelVersion | None = None):
    if version.model_id != model.pk:
        raise Invalid("Choose a version of the chosen model.", field="model_version")
    if version.build_status == BuildStatus.FAILED and (current is None or version != current):
        raise Invalid(
            f"Version v{version.number} failed to build; choose another version "
            "or upload a fixed one.",
            field="model_version",
        )


def _conflict_after_race(deployment: Deployment) -> Conflict:
    """Another request took the id or the (model, nodepool) between check and insert."""
    others = Deployment.objects.exclude(pk=deployment.pk)
    if others.filter(owner=deployment.owner, slug=deployment.slug).exists():
        name = "deployment_slug_unique_per_owner"
        return Conflict("You already have a deployment with this ID.", field=name)
    if others.active().filter(model=deployment.model, nodepool=deployment.nodepool).exists():
        name = "one_deployment_per_model_per_nodepool"
        return Conflict("This model already has a deployment on this nodepool.", field=name)
    return Conflict("The deployment conflicts with an existing one.")


def create_deployment(
    *,
    owner,
    slug: str,
    model: Model,
    model_version: ModelVersion,
    nodepool: Nodepool,
    description: str = "",
    settings: dict | None = None,
    actor=None,
) -> Deployment:
    """Place a model version on a nodepool; reconcile starts ``min_replicas`` replicas.

    ``owner`` is whose space it is in (a user or an organization's account); ``actor``
    who asked (the owner when not given)."""
    actor = actor or owner
    config = {**AUTOSCALE_DEFAULTS, **(settings or {})}
    _check_version(model, model_version)
    _check_autoscale(config)
    deployment = Deployment(
        owner=owner,
        slug=slug,
        description=description,
        model=model,
        model_version=model_version,
        nodepool=nodepool,
        # The autoscaler takes over from here; start at the minimum asked for.
        desired_replicas=config["min_replicas"],
        **config,
    )
    validate_instance(deployment)
    try:
        with transaction.atomic():
            deployment.save()
            deployment.record(
                "created",
                f"Deployed {model.slug} v{model_version.number} ({model_version.version_id}) "
                f"on {nodepool.cluster.slug}/{nodepool.slug} with {config['min_replicas']}–"
                f"{config['max_replicas']} replicas",
                actor=actor,
            )
            events.record(
                owner,
                actor,
                "deployed",
                slug,
                f"{model.slug} v{model_version.number} on {nodepool.cluster.slug}/{nodepool.slug}",
            )
            request_reconcile(deployment)
    except IntegrityError:
        raise _conflict_after_race(deployment) from None
    return deployment


def update_deployment(
    deployment: Deployment,
    changes: dict,
    *,
    actor=None,
    describe: Describe = describe_change,
) -> Deployment:
    """Change a deployment's description, version (replicas roll to it) or autoscale
    settings (``changes`` holds those sent). The row is locked and the locked copy is the
    one changed; the desired count is kept inside the new bounds. Returns that copy."""
    unknown = set(changes) - {"description", "model_version", *SETTINGS}
    if unknown:
        raise Invalid(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = (
            Deployment.objects.select_for_update()
            .select_related("model", "model_version", "nodepool__cluster")
            .filter(pk=deployment.pk)
            .first()
        )
        if locked is None or locked.status == DeploymentStatus.DELETING:
            raise Conflict(f"Deployment {deployment.slug!r} is being deleted.")
        said = []
        if "description" in changes and changes["description"] != locked.description:
            said.append(describe("description", locked.description, changes["description"]))
            locked.description = changes["description"]
        version = changes.get("model_version")
        if version is not None and version.pk != locked.model_version_id:
            _check_version(locked.model, version, locked.model_version)
            said.append(describe("model_version", locked.model_version.number, version.number))
            locked.model_version = version
        current = locked.autoscale_config()
        config = {**current, **{k: v for k, v in changes.items() if k in SETTINGS}}
        _check_autoscale(config)
        for name in SETTINGS:
            if config[name] != current[name]:
                said.append(describe(name, current[name], config[name]))
                setattr(locked, name, config[name])
        # Keep the autoscaler's target inside the new bounds right away.
        locked.desired_replicas = locked.effective_desired_replicas()
        validate_instance(locked)
        locked.save()
        if said:
            locked.record("updated", "Changed " + ", ".join(said), actor=actor)
            events.record(locked.owner_id, actor, "changed", locked.slug, ", ".join(said))
            request_reconcile(locked)
    return locked


def request_delete(deployment: Deployment, *, actor=None) -> bool:
    """Mark the deployment for deletion; a task removes its containers, then the row.

    Again on a deployment already being deleted: nothing more (False).
    """
    with transaction.atomic():
        marked = (
            Deployment.objects.filter(pk=deployment.pk)
            .exclude(status=DeploymentStatus.DELETING)
            .update(status=DeploymentStatus.DELETING, status_message="Removing replicas")
        )
        deployment.status = DeploymentStatus.DELETING
        if not marked:
            return False
        deployment.record("deleting", "Deletion requested", actor=actor)
        events.record(deployment.owner_id, actor, "deleted", deployment.slug)
        pk = deployment.pk
        after_commit(
            f"queue the deletion of deployment {pk}", lambda: tasks.delete_deployment.delay(pk)
        )
    return True
