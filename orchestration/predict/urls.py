from django.urls import re_path

from orchestration.predict import routes, views

app_name = "predict"

urlpatterns = [re_path(f"^{pattern}$", views.outputs) for pattern in routes.PATTERNS] + [
    re_path(f"^{pattern}$", views.generate) for pattern in routes.GENERATE_PATTERNS
]
