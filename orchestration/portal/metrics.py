"""GET /metrics: the Prometheus scrape, guarded by METRICS_ENABLED and METRICS_TOKEN."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from orchestration.deployments.metrics import DatabaseCollector
from orchestration.metrics import exposition

# Headers a reverse proxy adds: a request carrying one came from elsewhere, however
# local the proxy's own connection looks.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _from_this_host(request: HttpRequest) -> bool:
    if any(header in request.META for header in FORWARDED_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _has_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip(), token)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this scrape is refused, or None to serve it."""
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are off (METRICS_ENABLED)")
    if _has_token(request) or (
        _from_this_host(request) and not request.headers.get("Authorization")
    ):
        return None
    if settings.METRICS_TOKEN:
        message = "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n"
        return HttpResponse(
            message, status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    message = (
        "Metrics are served only to this host's own clients; set METRICS_TOKEN to let a "
        "Prometheus server elsewhere scrape them with it.\n"
    )
    return HttpResponse(message, status=403, content_type="text/plain")


@require_GET
@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    body = exposition.render([DatabaseCollector()])
    return HttpResponse(body, content_type=exposition.CONTENT_TYPE)
