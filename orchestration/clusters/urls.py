"""Compute URLs under /compute/: clusters, their nodepools and nodes.

Action words (new, edit, delete) sit where an id could; the forms reserve them as ids.
"""

from django.urls import path

from orchestration.clusters import views
from orchestration.nodepools import views as nodepool_views

app_name = "clusters"

urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("new/", views.cluster_create, name="create"),
    path("<slug:cluster_slug>/", views.cluster_detail, name="detail"),
    path("<slug:cluster_slug>/edit/", views.cluster_edit, name="edit"),
    path("<slug:cluster_slug>/delete/", views.cluster_delete, name="delete"),
    path("<slug:cluster_slug>/new/", nodepool_views.nodepool_create, name="nodepool_create"),
    path(
        "<slug:cluster_slug>/<slug:nodepool_slug>/",
        nodepool_views.nodepool_detail,
        name="nodepool",
    ),
    path(
        "<slug:cluster_slug>/<slug:nodepool_slug>/edit/",
        nodepool_views.nodepool_edit,
        name="nodepool_edit",
    ),
    path(
        "<slug:cluster_slug>/<slug:nodepool_slug>/delete/",
        nodepool_views.nodepool_delete,
        name="nodepool_delete",
    ),
    path(
        "<slug:cluster_slug>/<slug:nodepool_slug>/nodes/",
        nodepool_views.node_add,
        name="node_add",
    ),
    path(
        "<slug:cluster_slug>/<slug:nodepool_slug>/nodes/<int:node_id>/delete/",
        nodepool_views.node_delete,
        name="node_delete",
    ),
]
