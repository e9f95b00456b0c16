"""The management API: django-ninja under /api/v1/, JSON in and out, errors included."""

from __future__ import annotations

import functools

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, URLPattern, re_path, resolve, reverse
from ninja import NinjaAPI

from orchestration.api import catalog, compute, costs, deployments, organizations, replica_logs
from orchestration.api.common import responses
from orchestration.api.docs import LocalDocs, docs_urls
from orchestration.api.errors import STATUS_TEXT, install_handlers, json_error, log
from orchestration.api.parser import StrictJSONParser
from orchestration.api.schemas import MeOut
from orchestration.api.security import AUTH
from orchestration.api.throttle import KeyThrottle

DESCRIPTION = """\
Everything the portal does, scriptable: clusters, nodepools, nodes, models (upload an archive
as the multipart field `archive`), model versions, deployments with their `autoscale_config`,
and replicas (read-only).

Authenticate with `Authorization: Key <token>` (create a token on the portal's API keys
page), or with the portal's login session (unsafe methods then need the `X-CSRFToken`
header). Another user's objects answer 404, like objects that do not exist.
"""


class OrchestrationAPI(NinjaAPI):
    """NinjaAPI whose every URL answers JSON and is exempt from the login redirect."""

    def get_openapi_operation_id(self, operation) -> str:
        # The view's name: list_clusters, create_deployment, get_cluster (from get_cluster_).
        return operation.view_func.__name__.strip("_")

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        # Say what each error status means here, rather than the bare HTTP phrase.
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for code, response in operation.get("responses", {}).items():
                    text = STATUS_TEXT.get(int(code)) if str(code).isdigit() else None
                    if text:
                        response["description"] = text
        return schema

    def _get_urls(self):
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern) and pattern.name == "api-root":
                pattern.callback = functools.partial(api_root, api=self)
        urls[-1:-1] = docs_urls(self)
        urls.append(re_path(r"^.*$", fallback, name="fallback"))
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_view(pattern.callback)
        return urls


def _json_view(view):
    """JSON for what Django would answer in HTML (405), and no login redirect."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return json_error(404, "Not found.")
        except Exception:
            # The operations have their own handlers; this covers the docs and schema views.
            log.exception("API error on %s %s", request.method, request.path)
            return json_error(500, "Internal server error; it has been logged.")
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            return json_error(
                405,
                f"Method {request.method} is not allowed here; allowed: {allowed}.",
                headers={"Allow": allowed},
            )
        return response

    wrapper.login_required = False  # LoginRequiredMiddleware: the API answers 401 itself
    return wrapper


def api_root(request: HttpRequest, api: NinjaAPI, **kwargs) -> JsonResponse:
    ns = api.urls_namespace
    return JsonResponse(
        {
            "name": api.title,
            "version": api.version,
            "openapi": reverse(f"{ns}:openapi-json"),
            "docs": reverse(f"{ns}:openapi-view"),
        }
    )


def fallback(request: HttpRequest) -> JsonResponse:
    """Unknown API paths answer JSON 404; a missing trailing slash is forgiven."""
    path_info = request.path_info
    if not path_info.endswith("/"):
        try:
            match = resolve(path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "fallback":
            return match.func(request, *match.args, **match.kwargs)
    return json_error(404, "No API endpoint at this path: see /api/v1/docs.")


api = OrchestrationAPI(
    title="Compute Orchestration API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=AUTH,
    docs=LocalDocs(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    parser=StrictJSONParser(),
    throttle=[KeyThrottle()],
)
install_handlers(api)


@api.get("/me/", response=responses({200: MeOut}), summary="Who the key belongs to", tags=["Me"])
def me(request):
    space = request.space
    return {
        "username": request.auth.get_username(),
        "email": request.auth.email or "",
        "space": space.slug,
        "role": space.role,
    }


api.add_router("", compute.router)
api.add_router("", catalog.router)
api.add_router("", deployments.router)
api.add_router("", costs.router)
api.add_router("", replica_logs.router)
api.add_router("", organizations.router)

__all__ = ["api"]
