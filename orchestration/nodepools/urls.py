"""Nodepool and node URLs under /compute/<cluster>/; orchestration/urls.py puts them in
the `clusters` namespace beside the cluster pages."""

from django.urls import path

from orchestration.nodepools import views as nodepool_views

urlpatterns = [
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
