from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from orchestration.api import api
from orchestration.catalog import urls as catalog_urls
from orchestration.clusters import urls as cluster_urls
from orchestration.nodepools import urls as nodepool_urls
from orchestration.portal import metrics as portal_metrics
from orchestration.portal import views as portal_views
from orchestration.predict import portal as predict_portal

# Namespaces that span apps are put together here, at the top, so that no app's urls.py
# imports the views of an app above it (clusters -> nodepools, catalog -> predict).
compute_urls = ([*cluster_urls.urlpatterns, *nodepool_urls.urlpatterns], cluster_urls.app_name)
model_urls = (
    [
        *catalog_urls.urlpatterns,
        path("<slug:slug>/predict/", predict_portal.predict, name="predict"),
        path("<slug:slug>/generate/", predict_portal.generate, name="generate"),
    ],
    catalog_urls.app_name,
)

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("metrics", portal_metrics.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("v2/", include("orchestration.predict.urls")),
    path("api/v1/", api.urls),
    path("account/", include("orchestration.accounts.urls")),
    path("compute/", include(compute_urls)),
    path("models/", include(model_urls)),
    path("deployments/", include("orchestration.deployments.urls")),
]
