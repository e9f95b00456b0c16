"""ASGI entry point: predictions take a lean path; everything else is Django, behind the
body limits (which must run before Django's handler reads the body)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")
django_application = get_asgi_application()

from orchestration.predict.fast import predict_app  # noqa: E402 - needs Django set up
from orchestration.request_limits import BodyLimitMiddleware  # noqa: E402

limited_django_application = BodyLimitMiddleware(django_application)


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/v2/"):
        await predict_app(scope, receive, send)
        return
    await limited_django_application(scope, receive, send)
