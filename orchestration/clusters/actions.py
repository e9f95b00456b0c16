"""Cluster operations: create, update, delete. Called by the portal and the API."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from orchestration.accounts import events
from orchestration.clusters.models import SHARED_ID, Cluster
from orchestration.db import delete_unless_protected, validate_instance
from orchestration.errors import Conflict, Forbidden

ID_TAKEN = "You already have a cluster with this ID."


def create_cluster(*, owner, slug: str, actor=None, **fields) -> Cluster:
    if slug == SHARED_ID:
        raise Conflict(f"{SHARED_ID!r} is the built-in shared cluster's id.", field="slug")
    cluster = Cluster(owner=owner, slug=slug, **fields)
    validate_instance(cluster)
    try:
        with transaction.atomic():
            cluster.save()
    except IntegrityError:
        # Two requests raced past the check above; the database kept one.
        raise Conflict(ID_TAKEN, field="slug") from None
    events.record(owner, actor or owner, "created a cluster", slug)
    return cluster


def update_cluster(cluster: Cluster, changes: dict) -> Cluster:
    """Change description, cloud provider or region; the id is fixed once made."""
    if cluster.is_shared:
        raise Forbidden("The shared cluster is built in and read-only.")
    for name, value in changes.items():
        setattr(cluster, name, value)
    validate_instance(cluster)
    cluster.save()
    return cluster


def delete_cluster(cluster: Cluster, actor=None) -> None:
    """Delete the cluster with its nodepools and nodes; refused while deployments run there."""
    if cluster.is_shared:
        # Prediction without a chosen deployment relies on the shared compute.
        raise Forbidden("The built-in shared cluster cannot be deleted.")
    owner_id, slug = cluster.owner_id, cluster.slug
    delete_unless_protected(cluster, f"Cluster {slug}")
    events.record(owner_id, actor, "deleted a cluster", slug)
