"""Compute URLs under /compute/: clusters, their nodepools and nodes.

Action words (new, edit, delete) sit where an id could; the forms reserve them as ids.
The nodepool pages (nodepools/urls.py) join this namespace in orchestration/urls.py.
"""

from django.urls import path

from orchestration.clusters import views

app_name = "clusters"

urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("new/", views.cluster_create, name="create"),
    path("<slug:cluster_slug>/", views.cluster_detail, name="detail"),
    path("<slug:cluster_slug>/edit/", views.cluster_edit, name="edit"),
    path("<slug:cluster_slug>/delete/", views.cluster_delete, name="delete"),
]
