"""Owner-scoped reads for the Get/List RPCs, through the REST API's lookups (orchestration/api).

Each function runs in a worker thread (sync_to_async) with a fresh DB connection, as the
predict path does; another user's object is "not found", as over HTTP.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from orchestration.api.catalog import find_version, get_model
from orchestration.api.compute import get_cluster, get_nodepool
from orchestration.api.deployments import get_deployment
from orchestration.api.errors import ApiError
from orchestration.catalog.models import Model
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import Nodepool
from orchestration.predict.dbconn import fresh_connection

from . import convert


class NotFound(Exception):
    pass


def _user(user_id: int):
    fresh_connection()
    return get_user_model().objects.get(pk=user_id)


def _found(lookup, *args):
    try:
        return lookup(*args)
    except ApiError as exc:
        if exc.status == 404:
            raise NotFound(exc.message) from None
        raise


def _latest(model: Model):
    return model.versions.select_related("model__owner").order_by("-number").first()


def _find_version(model: Model, ref: str):
    version = find_version(model, ref)
    if version is None:
        raise NotFound(f"No version {ref!r} of model {model.slug!r}.")
    return version


@sync_to_async
def user(user_id: int):
    return convert.user(_user(user_id))


@sync_to_async
def model(user_id: int, model_id: str, version_id: str = ""):
    found = _found(get_model, _user(user_id), model_id)
    version = _find_version(found, version_id) if version_id else _latest(found)
    return convert.model(found, version)


@sync_to_async
def model_version(user_id: int, model_id: str, version_id: str):
    found = _found(get_model, _user(user_id), model_id)
    return convert.model_version(_find_version(found, version_id))


@sync_to_async
def models(user_id: int):
    owner = _user(user_id)
    found = Model.objects.owned_by(owner).select_related("owner")
    return [convert.model(item, _latest(item)) for item in found]


@sync_to_async
def deployment(user_id: int, deployment_id: str):
    found = _found(get_deployment, _user(user_id), deployment_id)
    return convert.deployment(found)


@sync_to_async
def deployments(user_id: int, nodepool_id: str = "", cluster_id: str = ""):
    found = Deployment.objects.owned_by(_user(user_id)).select_related(
        "owner", "model__owner", "model_version__model__owner", "nodepool__cluster__owner"
    )
    if nodepool_id:
        found = found.filter(nodepool__slug=nodepool_id)
    if cluster_id:
        found = found.filter(nodepool__cluster__slug=cluster_id)
    return [convert.deployment(item) for item in found]


@sync_to_async
def compute_cluster(user_id: int, cluster_id: str):
    return convert.compute_cluster(_found(get_cluster, _user(user_id), cluster_id))


@sync_to_async
def nodepool(user_id: int, cluster_id: str, nodepool_id: str):
    return convert.nodepool(_found(get_nodepool, _user(user_id), cluster_id, nodepool_id))


@sync_to_async
def nodepools(user_id: int, cluster_id: str = ""):
    owner = _user(user_id)
    if cluster_id:
        cluster = _found(get_cluster, owner, cluster_id)
        found = cluster.nodepools.select_related("cluster__owner")
    else:
        found = Nodepool.objects.visible_to(owner).select_related("cluster__owner")
    return [convert.nodepool(item) for item in found]
