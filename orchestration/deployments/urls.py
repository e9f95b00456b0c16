"""Deployment URLs under /deployments/ (the id "new" is reserved for the deploy form)."""

from django.urls import path

from orchestration.deployments import log_views, views

app_name = "deployments"

urlpatterns = [
    path("", views.deployment_list, name="list"),
    path("new/", views.deployment_create, name="create"),
    # Under new/ (a reserved deployment id), so no deployment's URL can shadow it.
    path("new/preview/", views.deployment_preview, name="preview"),
    path("<slug:slug>/", views.deployment_detail, name="detail"),
    path("<slug:slug>/edit/", views.deployment_edit, name="edit"),
    path("<slug:slug>/delete/", views.deployment_delete, name="delete"),
    path("<slug:slug>/logs/", log_views.deployment_logs, name="logs"),
    path(
        "<slug:slug>/logs/<int:replica_id>.log",
        log_views.replica_log_download,
        name="log_download",
    ),
]
