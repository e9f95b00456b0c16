from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from orchestration.api import api
from orchestration.portal import views as portal_views

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("v2/", include("orchestration.predict.urls")),
    path("api/v1/", api.urls),
    path("account/", include("orchestration.accounts.urls")),
    path("compute/", include("orchestration.clusters.urls")),
    path("models/", include("orchestration.catalog.urls")),
    path("deployments/", include("orchestration.deployments.urls")),
]
