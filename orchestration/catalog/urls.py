"""Model URLs under /models/ (the catalog app; the namespace users see is `models`).

The predict form (predict app, above catalog) joins the namespace in orchestration/urls.py.
"""

from django.urls import path

from orchestration.catalog import upload_views, views

app_name = "models"

urlpatterns = [
    path("", views.model_list, name="list"),
    path("upload/", upload_views.upload, name="upload"),
    path("<slug:slug>/", views.model_detail, name="detail"),
    path("<slug:slug>/versions/", views.model_versions, name="versions"),
    path("<slug:slug>/deployments/", views.model_deployments, name="deployments"),
    path("<slug:slug>/versions/<str:version_id>/", views.version_detail, name="version"),
    path("<slug:slug>/delete/", views.model_delete, name="delete"),
]
