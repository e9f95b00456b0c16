from django.urls import path

from orchestration.predict import views

app_name = "predict"

urlpatterns = [
    path("models/<str:model_id>/outputs", views.model_outputs),
    path("models/<str:model_id>/versions/<str:version_id>/outputs", views.model_outputs),
    path(
        "users/<str:user_id>/apps/<str:app_id>/models/<str:model_id>/outputs", views.model_outputs
    ),
    path(
        "users/<str:user_id>/apps/<str:app_id>/models/<str:model_id>/versions/<str:version_id>/outputs",
        views.model_outputs,
    ),
    path("users/<str:user_id>/deployments/<str:deployment_id>/outputs", views.deployment_outputs),
]
