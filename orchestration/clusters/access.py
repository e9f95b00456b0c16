"""Who sees and edits which cluster: the access rules every app's views and forms share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from orchestration.clusters.models import Cluster


def visible_clusters(user) -> QuerySet[Cluster]:
    """The user's clusters and the shared one, minus a shared cluster whose id the user
    also owns, so that an id names exactly one cluster for this user."""
    own_slugs = Cluster.objects.owned_by(user).values("slug")
    return Cluster.objects.filter(Q(owner=user) | (Q(is_shared=True) & ~Q(slug__in=own_slugs)))


def can_edit_cluster(user, cluster: Cluster) -> bool:
    """Owners edit their clusters; only staff touch the built-in shared one."""
    if cluster.is_shared:
        return bool(user.is_staff)
    return cluster.owner_id == user.pk


def get_cluster_for_user(request: HttpRequest, slug: str) -> Cluster:
    """The user's cluster (or the shared one) by id; anyone else's is a 404, not a 403,
    so ids of other users' clusters do not leak."""
    cluster = visible_clusters(request.user).filter(slug=slug).first()
    if cluster is None:
        raise Http404("No such cluster")
    return cluster


def get_editable_cluster(request: HttpRequest, slug: str) -> Cluster:
    cluster = get_cluster_for_user(request, slug)
    if not can_edit_cluster(request.user, cluster):
        raise PermissionDenied("The shared cluster is managed by administrators.")
    return cluster
