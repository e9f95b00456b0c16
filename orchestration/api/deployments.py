"""Deployments (a model version on a nodepool, with autoscaling) and their replicas."""

from django.db.models import Prefetch
from ninja import Query, Router, Schema, Status
from pydantic import Field

from orchestration.accounts.access import Perm
from orchestration.api.catalog import find_version, get_model
from orchestration.api.common import Converted, is_slug, owner, paginated, require, responses
from orchestration.api.compute import get_cluster
from orchestration.api.errors import ApiError, action_errors, not_found
from orchestration.api.schemas import (
    DeploymentIn,
    DeploymentOut,
    DeploymentPatch,
    ReplicaOut,
    ReplicaStateName,
    ScalingOut,
)
from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.deployments import actions as deployment_actions
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Deployment,
    DeploymentStatus,
    Replica,
    ReplicaState,
)
from orchestration.deployments.scaling_reason import scaling_reason

router = Router(tags=["Deployments"])

FIELD_MAP = {
    "slug": "id",
    "model": "model_id",
    "model_version": "model_version_id",
    "nodepool": "nodepool_id",
    "description": "description",
    **{name: f"autoscale_config.{name}" for name in AUTOSCALE_DEFAULTS},
    "deployment_slug_unique_per_owner": "id",
    "one_deployment_per_model_per_nodepool": "nodepool_id",
    "deployment_slug_format": "id",
    "deployment_min_lte_max": "autoscale_config.max_replicas",
    "deployment_max_gte_1": "autoscale_config.max_replicas",
    "deployment_delays_not_negative": "autoscale_config",
    "deployment_zero_delay_gte_down_delay": "autoscale_config.scale_to_zero_delay_seconds",
    "deployment_target_concurrency_gte_1": "autoscale_config.target_concurrency",
}


# --- lookups and output ------------------------------------------------------------------


def _deployments(user):
    return (
        Deployment.objects.owned_by(user)
        .select_related("model", "model_version", "nodepool__cluster")
        .prefetch_related(
            Prefetch(
                "replicas",
                queryset=Replica.objects.exclude(state=ReplicaState.STOPPED).select_related(
                    "node", "model_version"
                ),
                to_attr="current_replicas",
            )
        )
    )


def get_deployment(user, deployment_id: str) -> Deployment:
    deployment = (
        _deployments(user).filter(slug=deployment_id).first() if is_slug(deployment_id) else None
    )
    if deployment is None:
        raise not_found("deployment", deployment_id)
    return deployment


def replica_out(replica: Replica) -> dict:
    return {
        "id": replica.pk,
        "state": replica.state,
        "node": replica.node.name if replica.node_id and replica.node else None,
        "address": replica.address,
        "model_version_id": replica.model_version.version_id,
        "pending_reason": replica.pending_reason,
        "last_error": replica.last_error,
        "created_at": replica.created_at,
        "started_at": replica.started_at,
        "ready_at": replica.ready_at,
    }


def deployment_out(deployment: Deployment) -> dict:
    replicas = getattr(deployment, "current_replicas", None)
    if replicas is None:
        replicas = list(
            deployment.replicas.exclude(state=ReplicaState.STOPPED).select_related(
                "node", "model_version"
            )
        )
    return {
        "id": deployment.slug,
        "description": deployment.description,
        "model_id": deployment.model.slug,
        "model_version_id": deployment.model_version.version_id,
        "model_version_number": deployment.model_version.number,
        "cluster_id": deployment.nodepool.cluster.slug,
        "nodepool_id": deployment.nodepool.slug,
        "autoscale_config": deployment.autoscale_config(),
        "desired_replicas": deployment.desired_replicas,
        "ready_replicas": sum(1 for r in replicas if r.state == ReplicaState.READY),
        "status": deployment.status,
        "status_message": deployment.status_message,
        "replicas": [replica_out(r) for r in replicas],
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
    }


def resolve_version(model: Model, ref: str | None) -> ModelVersion:
    """The named version (id or number), or the latest ready one; it must be built."""
    if ref is None:
        version = model.latest_ready_version()
        if version is None:
            raise ApiError(
                400,
                f"Model {model.slug!r} has no ready version yet: wait for its build to finish.",
                field="model_version_id",
            )
        return version
    version = find_version(model, ref)
    if version is None:
        raise not_found("version", f"{model.slug}/{ref}", field="model_version_id")
    if version.build_status != BuildStatus.READY:
        raise ApiError(
            400,
            f"Version {version.version_id} (v{version.number}) is {version.build_status}, "
            "not ready: only built versions can be deployed.",
            field="model_version_id",
        )
    return version


# --- operations --------------------------------------------------------------------------


@router.get(
    "/deployments/", response=responses({200: list[DeploymentOut]}, 400), summary="List deployments"
)
@paginated
def list_deployments(request):
    return Converted(_deployments(owner(request)), deployment_out)


@router.post(
    "/deployments/",
    response=responses({201: DeploymentOut}, 400, 403, 404, 409),
    summary="Create a deployment",
    description=(
        "Places a ready model version on a nodepool and starts `min_replicas` replicas. "
        "`model_version_id` defaults to the latest ready version (400 when none is ready). "
        "409: the id is taken, or the model already has a deployment on this nodepool. "
        "404: unknown model, cluster, nodepool or version (the error names the field)."
    ),
)
def create_deployment(request, payload: DeploymentIn):
    require(request, Perm.DEPLOY)
    user = owner(request)
    try:
        model = get_model(user, payload.model_id)
    except ApiError as exc:
        raise ApiError(404, exc.message, field="model_id") from None
    try:
        cluster = get_cluster(user, payload.cluster_id)
    except ApiError as exc:
        raise ApiError(404, exc.message, field="cluster_id") from None
    nodepool = cluster.nodepools.filter(slug=payload.nodepool_id).select_related("cluster").first()
    if nodepool is None:
        raise not_found("nodepool", f"{cluster.slug}/{payload.nodepool_id}", field="nodepool_id")
    version = resolve_version(model, payload.model_version_id)
    settings = {}
    if payload.autoscale_config is not None:
        settings = payload.autoscale_config.model_dump(exclude_unset=True)
    with action_errors(FIELD_MAP):
        deployment = deployment_actions.create_deployment(
            owner=user,
            actor=request.auth,
            slug=payload.id,
            description=payload.description,
            model=model,
            model_version=version,
            nodepool=nodepool,
            settings=settings,
        )
    return Status(201, deployment_out(get_deployment(user, deployment.slug)))


@router.get(
    "/deployments/{deployment_id}/",
    response=responses({200: DeploymentOut}, 404),
    summary="Get a deployment, with its status and replicas",
)
def get_deployment_(request, deployment_id: str):
    return deployment_out(get_deployment(owner(request), deployment_id))


@router.get(
    "/deployments/{deployment_id}/scaling/",
    response=responses({200: ScalingOut}, 404),
    summary="Why the deployment has its replica count now",
    description="The autoscaler's rules run now on the deployment's recorded traffic and "
    "decisions: what it wants, why, and how long a delay still holds a change back.",
)
def get_scaling(request, deployment_id: str):
    reason = scaling_reason(get_deployment(owner(request), deployment_id))
    return {
        "explanation": reason.text,
        "decision": reason.kind,
        "wanted_replicas": reason.wanted,
        "desired_replicas": reason.desired,
        "average_in_flight": reason.average_in_flight,
        "acts_in_seconds": reason.acts_in,
    }


def _update_deployment(request, deployment_id: str, payload: DeploymentPatch):
    user = owner(request)
    data = payload.model_dump(exclude_unset=True)
    deployment = get_deployment(user, deployment_id)
    require(request, Perm.DEPLOY)
    changes = {k: data[k] for k in ("description",) if k in data}
    changes.update(data.get("autoscale_config") or {})
    if "model_version_id" in data:
        if deployment.status == DeploymentStatus.DELETING:
            raise ApiError(409, f"Deployment {deployment_id!r} is being deleted.")
        changes["model_version"] = resolve_version(deployment.model, data["model_version_id"])
    with action_errors(FIELD_MAP):
        deployment_actions.update_deployment(deployment, changes, actor=request.auth)
    return deployment_out(get_deployment(user, deployment_id))


UPDATE_DESCRIPTION = (
    "Changes what is sent: `description`, `model_version_id` (rolls replicas to that ready "
    "version) and any subset of `autoscale_config`; the rest is kept. "
    "409 while the deployment is being deleted."
)
router.patch(
    "/deployments/{deployment_id}/",
    response=responses({200: DeploymentOut}, 400, 403, 404, 409),
    summary="Update a deployment's settings or version",
    description=UPDATE_DESCRIPTION,
    operation_id="update_deployment",
)(_update_deployment)
router.put(
    "/deployments/{deployment_id}/",
    response=responses({200: DeploymentOut}, 400, 403, 404, 409),
    summary="Update a deployment (same as PATCH)",
    description=UPDATE_DESCRIPTION,
    operation_id="put_deployment",
)(_update_deployment)


@router.delete(
    "/deployments/{deployment_id}/",
    response=responses({202: DeploymentOut}, 403, 404),
    summary="Delete a deployment",
    description=(
        "Accepted (202): the status turns `deleting`, its replicas are drained and removed "
        "in the background, then the deployment disappears."
    ),
)
def delete_deployment(request, deployment_id: str):
    deployment = get_deployment(owner(request), deployment_id)
    require(request, Perm.DEPLOY)
    deployment_actions.request_delete(deployment, actor=request.auth)
    return Status(202, deployment_out(get_deployment(owner(request), deployment_id)))


class ReplicaFilter(Schema):
    state: ReplicaStateName | None = Field(None, description="Only replicas in this state.")
    all: bool = Field(False, description="Include stopped replicas (history).")


@router.get(
    "/deployments/{deployment_id}/replicas/",
    response=responses({200: list[ReplicaOut]}, 400, 404),
    summary="List a deployment's replicas",
    description="Read-only; replicas are started and stopped by the autoscaler and reconcile.",
)
@paginated
def list_replicas(request, deployment_id: str, filters: Query[ReplicaFilter]):
    deployment = get_deployment(owner(request), deployment_id)
    replicas = deployment.replicas.select_related("node", "model_version")
    if filters.state:
        replicas = replicas.filter(state=filters.state)
    elif not filters.all:
        replicas = replicas.exclude(state=ReplicaState.STOPPED)
    return Converted(replicas, replica_out)
