"""ASGI entry point: predictions take a lean path; everything else is Django."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")
django_application = get_asgi_application()

from orchestration.predict.fast import predict_app  # noqa: E402 - needs Django set up


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/v2/"):
        await predict_app(scope, receive, send)
        return
    await django_application(scope, receive, send)
