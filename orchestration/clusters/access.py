"""Which clusters a space sees and who edits them: the portal pages of every app share it.

The rules themselves (roles, permissions) live in ``accounts.access``; this applies them
to clusters, which the built-in shared one complicates.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from orchestration.accounts.access import DENIED, Perm, Space
from orchestration.clusters.models import Cluster


def visible_clusters(owner) -> QuerySet[Cluster]:
    """The owner's clusters and the shared one, minus a shared cluster whose id the owner
    also has, so that an id names exactly one cluster in this space."""
    own_slugs = Cluster.objects.owned_by(owner).values("slug")
    return Cluster.objects.filter(Q(owner=owner) | (Q(is_shared=True) & ~Q(slug__in=own_slugs)))


def can_edit_cluster(space: Space, cluster: Cluster) -> bool:
    """Owners and admins of the space edit its clusters; only staff the built-in shared one."""
    if cluster.is_shared:
        return bool(space.user.is_staff)
    return cluster.owner_id == space.account.pk and space.can(Perm.COMPUTE)


def get_cluster_for_user(request: HttpRequest, slug: str) -> Cluster:
    """The space's cluster (or the shared one) by id; anyone else's is a 404, not a 403,
    so ids of other spaces' clusters do not leak."""
    cluster = visible_clusters(request.space.account).filter(slug=slug).first()
    if cluster is None:
        raise Http404("No such cluster")
    return cluster


def get_editable_cluster(request: HttpRequest, slug: str) -> Cluster:
    cluster = get_cluster_for_user(request, slug)
    if not can_edit_cluster(request.space, cluster):
        if cluster.is_shared:
            raise PermissionDenied("The shared cluster is managed by administrators.")
        raise PermissionDenied(DENIED[Perm.COMPUTE])
    return cluster
