"""Which deployment serves a prediction: the caller's selector, or the shared deployment.

Resolved targets and authenticated keys are cached briefly in memory, so the steady
state of the predict path makes no database query.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from orchestration.accounts.access import DENIED, Perm, space_named
from orchestration.accounts.models import AccessToken, hash_token
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict.cache import RefreshingCache
from orchestration.predict.dbconn import fresh_connection as _fresh_connection

# How long a resolved model or deployment is reused before it is looked up again.
CACHE_SECONDS = 5.0


class PredictError(Exception):
    """An error the caller gets as JSON: HTTP status, Clarifai status code, description."""

    def __init__(
        self,
        http_status: int,
        code: int,
        description: str,
        details: str = "",
        headers: dict | None = None,
    ) -> None:
        super().__init__(description)
        self.http_status = http_status
        self.code = code
        self.description = description
        self.details = details
        self.headers = headers or {}


# Clarifai status codes (clarifai_grpc status_code_pb2), so clients recognise them.
SUCCESS = 10000
FAILURE = 10020
CONN_THROTTLED = 11005
INSUFFICIENT_SCOPES = 11007
KEY_INVALID = 11008
KEY_NOT_FOUND = 11009
INVALID_REQUEST = 11102
MODEL_DOES_NOT_EXIST = 21200
MODEL_PREDICTION_FAILED = 21313
MODEL_DEPLOYING = 21351
MODEL_BUSY = 21354
DEPLOYMENT_DOES_NOT_EXIST = 25900


@dataclass(frozen=True)
class Caller:
    """Who acts, and whose objects they reach: the key's user, or once ``acting_caller``
    has resolved a ``user_id`` naming an organization, that organization's account."""

    user_id: int
    username: str
    # The key's digest (hash_token), what rate limits count by; "" for the portal's session.
    key: str = ""
    # The organization (its account's pk) a scoped key is limited to.
    scope: int | None = None
    # The key's own user, when user_id/username name an organization.
    member_id: int | None = None


@dataclass(frozen=True)
class Target:
    deployment_id: int
    deployment_slug: str
    model_slug: str
    version_id: str
    # The deployment's metric labels (`instruments.DEPLOYMENT_LABELS`).
    labels: tuple[str, ...] = NO_DEPLOYMENT


# Past their time, entries are still used while one task looks them up again (a lookup
# per request in flight, at once, stalled the router); a revoked key is forgotten at once.
_keys: RefreshingCache[str, Caller | None] = RefreshingCache(
    lambda: settings.PREDICT_KEY_CACHE_SECONDS
)
_targets: RefreshingCache[tuple, Target] = RefreshingCache(CACHE_SECONDS)
# Which space a (key, user_id) reaches: membership changes show within CACHE_SECONDS.
_spaces: RefreshingCache[tuple, Caller | str | None] = RefreshingCache(CACHE_SECONDS)


async def caller_from_key(header: str) -> Caller:
    if not header:
        raise PredictError(
            401, KEY_NOT_FOUND, "Missing API key", "Send 'Authorization: Key <token>'"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("key", "bearer") or not token.strip():
        raise PredictError(401, KEY_INVALID, "Invalid API key", "Use 'Authorization: Key <token>'")
    token = token.strip()
    digest = hash_token(token)
    # Without Redis a revoked key works for at most PREDICT_KEY_CACHE_SECONDS; with Redis
    # the revocation is published and every router forgets the key at once.
    caller = await _keys.get(digest, lambda: _lookup_key(token, digest))
    if caller is None:
        raise PredictError(401, KEY_INVALID, "Invalid API key", "The key is unknown or revoked")
    return caller


def forget_key(token_hash: str) -> None:
    """Drop a key from the cache, so its next request is checked against the database."""
    _keys.forget(token_hash)


@sync_to_async
def _lookup_key(token: str, digest: str) -> Caller | None:
    _fresh_connection()
    found = AccessToken.find(token)
    if found is None:
        return None
    return Caller(found.user.pk, found.user.username, digest, scope=found.organization_id)


class Refused(Exception):
    """The space exists for the caller, but their role may not do this."""


async def acting_caller(caller: Caller, user_id: str | None, perm: Perm) -> Caller | None:
    """The caller acting in the space ``user_id`` names (``accounts.access.space_named``):
    themselves, or an organization they belong to. None when it names nothing they may
    see; ``Refused`` when their role may not ``perm`` there."""
    if caller.scope is None and user_id in (None, "", "me", caller.username):
        return caller
    key = (caller.user_id, caller.scope, user_id or "", perm)
    found = await _spaces.get(key, lambda: _lookup_space(caller, user_id, perm))
    if found == "refused":
        raise Refused(perm)
    return found


@sync_to_async
def _lookup_space(caller: Caller, user_id: str | None, perm: Perm):
    from django.contrib.auth import get_user_model

    _fresh_connection()
    user = get_user_model()(pk=caller.user_id, username=caller.username)
    space = space_named(user, user_id, scope_id=caller.scope)
    if space is None:
        return None
    if not space.can(perm):
        return "refused"
    if space.is_personal:
        return caller
    return Caller(space.account.pk, space.slug, caller.key, caller.scope, caller.user_id)


async def target_for(
    caller: Caller,
    *,
    user_id: str | None,
    model_slug: str | None,
    version_id: str | None,
    deployment_slug: str | None,
    selector: dict | None,
) -> Target:
    try:
        acting = await acting_caller(caller, user_id, Perm.PREDICT)
    except Refused:
        raise PredictError(
            403, INSUFFICIENT_SCOPES, "Permission denied", DENIED[Perm.PREDICT]
        ) from None
    if acting is None:
        # Another user's (or organization's) resources: answer as if they do not exist.
        what = "Deployment" if deployment_slug else "Model"
        code = DEPLOYMENT_DOES_NOT_EXIST if deployment_slug else MODEL_DOES_NOT_EXIST
        raise PredictError(404, code, f"{what} does not exist")
    caller = acting
    key = (caller.user_id, model_slug, version_id, deployment_slug, _freeze(selector))
    return await _targets.get(
        key, lambda: _resolve(caller, model_slug, version_id, deployment_slug, selector or {})
    )


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@sync_to_async
def _resolve(caller, model_slug, version_id, deployment_slug, selector) -> Target:
    _fresh_connection()
    from orchestration.catalog.models import Model
    from orchestration.deployments.models import Deployment

    deployments = Deployment.objects.filter(owner_id=caller.user_id).select_related(
        "model", "model_version", "nodepool__cluster"
    )
    if deployment_slug is not None and selector:
        _check_agrees_with_url(caller, deployment_slug, selector)
    if deployment_slug is None and "deployment" in selector:
        chosen = selector["deployment"]
        if chosen.get("user_id") not in (None, "", "me", caller.username):
            raise PredictError(404, DEPLOYMENT_DOES_NOT_EXIST, "Deployment does not exist")
        deployment_slug = chosen["id"]
    if deployment_slug is not None:
        deployment = deployments.filter(slug=deployment_slug).first()
        if deployment is None or deployment.status == "deleting":
            raise PredictError(
                404, DEPLOYMENT_DOES_NOT_EXIST, "Deployment does not exist", deployment_slug
            )
        if "nodepool" in selector:
            _check_on_nodepool(deployment, selector["nodepool"])
        if model_slug is not None and deployment.model.slug != model_slug:
            raise PredictError(
                400,
                INVALID_REQUEST,
                "The deployment serves another model",
                f"deployment {deployment.slug} serves model {deployment.model.slug}",
            )
        return _check_version(deployment, version_id, caller)

    model = Model.objects.filter(owner_id=caller.user_id, slug=model_slug).first()
    if model is None:
        raise PredictError(404, MODEL_DOES_NOT_EXIST, "Model does not exist", model_slug or "")
    if "nodepool" in selector:
        pool = selector["nodepool"]
        cluster = pool.get("compute_cluster") or {}
        if cluster.get("user_id") not in (None, "", "me", caller.username):
            raise PredictError(404, DEPLOYMENT_DOES_NOT_EXIST, "Nodepool does not exist")
        deployment = (
            deployments.filter(model=model, nodepool__slug=pool["id"])
            .filter(nodepool__cluster__slug=cluster["id"])
            .first()
        )
        if deployment is None:
            raise PredictError(
                404,
                DEPLOYMENT_DOES_NOT_EXIST,
                "This model has no deployment on that nodepool",
                f"{cluster['id']}/{pool['id']}",
            )
        return _check_version(deployment, version_id, caller)
    return _check_version(_shared_deployment(caller, model, version_id), version_id, caller)


def _check_agrees_with_url(caller: Caller, deployment_slug: str, selector: dict) -> None:
    """A selector sent to a deployment's own URL must name that deployment (or none).

    Silently preferring one of two contradicting choices would send the request to a
    deployment the caller may not have meant.
    """
    chosen = selector.get("deployment")
    if chosen is None:
        return
    if chosen["id"] != deployment_slug or chosen.get("user_id") not in (
        None,
        "",
        "me",
        caller.username,
    ):
        raise PredictError(
            400,
            INVALID_REQUEST,
            "The runner_selector names another deployment than the URL",
            f"the URL names deployment {deployment_slug}; the selector names {chosen['id']}",
        )


def _check_on_nodepool(deployment, pool: dict) -> None:
    cluster = pool.get("compute_cluster") or {}
    if deployment.nodepool.slug != pool["id"] or deployment.nodepool.cluster.slug != cluster.get(
        "id"
    ):
        raise PredictError(
            400,
            INVALID_REQUEST,
            "The runner_selector names another nodepool than the deployment's",
            f"deployment {deployment.slug} runs on "
            f"{deployment.nodepool.cluster.slug}/{deployment.nodepool.slug}",
        )


def _check_version(deployment, version_id: str | None, caller: Caller) -> Target:
    if version_id is not None and deployment.model_version.version_id != version_id:
        raise PredictError(
            400,
            INVALID_REQUEST,
            "The deployment serves another model version",
            f"deployment {deployment.slug} serves version {deployment.model_version.version_id}",
        )
    if deployment.model_version.build_status == "failed":
        raise PredictError(
            503, MODEL_DEPLOYING, "The model version's image build failed", deployment.slug
        )
    pool = deployment.nodepool
    return Target(
        deployment.pk,
        deployment.slug,
        deployment.model.slug,
        deployment.model_version.version_id,
        # Every path looks deployments up among the caller's own.
        (
            deployment.slug,
            caller.username,
            deployment.model.slug,
            f"{pool.cluster.slug}/{pool.slug}",
        ),
    )


def _shared_deployment(caller: Caller, model, version_id: str | None):
    """The model's deployment on the shared nodepool, created on first use (min 0)."""
    from django.contrib.auth import get_user_model

    from orchestration.deployments.actions import create_deployment
    from orchestration.deployments.models import Deployment
    from orchestration.errors import ActionError, Conflict
    from orchestration.nodepools.shared import shared_nodepool

    User = get_user_model()  # noqa: N806 - the model class, named as Django does

    pool = shared_nodepool()
    existing = (
        Deployment.objects.active()
        .filter(model=model, nodepool=pool)
        .select_related("model", "model_version", "nodepool__cluster")
        .first()
    )
    if existing is not None:
        return existing
    version = (
        model.versions.filter(version_id=version_id).first()
        if version_id
        else (model.latest_ready_version() or model.latest_version())
    )
    if version is None:
        raise PredictError(
            404, MODEL_DOES_NOT_EXIST, "Model version does not exist", version_id or ""
        )
    slug = f"{model.slug}-shared"[:64]
    try:
        deployment = create_deployment(
            owner=User.objects.get(pk=caller.user_id),
            slug=slug,
            model=model,
            model_version=version,
            nodepool=pool,
            description="Shared deployment, created on first use",
            settings={"min_replicas": 0, "max_replicas": 5},
        )
    except Conflict:
        # Another request created it at the same moment (or the slug is taken).
        deployment = Deployment.objects.active().filter(model=model, nodepool=pool).first()
        if deployment is None:
            raise PredictError(
                409, FAILURE, "Cannot create the shared deployment", f"ID {slug} is taken"
            ) from None
    except ActionError as exc:
        raise PredictError(400, FAILURE, "Cannot create the shared deployment", str(exc)) from None
    return Deployment.objects.select_related("model", "model_version", "nodepool__cluster").get(
        pk=deployment.pk
    )
