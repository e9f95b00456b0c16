"""Self-hosted API docs: a server-rendered page from the OpenAPI schema, and Swagger UI.

No CDN: the page at /api/v1/docs is plain HTML built from the schema (every operation with
its parameters, body and responses, errors included), and /api/v1/docs/swagger runs the
Swagger UI bundle that ships inside django-ninja, served from here.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template import engines
from django.urls import path, reverse
from django.views.decorators.http import require_GET
from ninja.openapi.docs import DocsBase

TEMPLATES = Path(__file__).parent / "templates"
NINJA_STATIC = Path(ninja.__file__).parent / "static" / "ninja"
ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-init.js", "favicon.png"}
METHOD_ORDER = ["get", "post", "put", "patch", "delete"]


def _render(name: str, request: HttpRequest, context: dict) -> HttpResponse:
    template = engines["django"].from_string((TEMPLATES / name).read_text())
    return HttpResponse(template.render(context, request))


def _schema_name(ref_or_schema: dict | None) -> str:
    if not ref_or_schema:
        return ""
    if "$ref" in ref_or_schema:
        return ref_or_schema["$ref"].rsplit("/", 1)[-1]
    if ref_or_schema.get("type") == "array" and "items" in ref_or_schema:
        return f"list of {_schema_name(ref_or_schema['items'])}"
    return ref_or_schema.get("type", "object")


def operations(schema: dict) -> list[dict]:
    """The schema's operations, in path order, flattened for the template."""
    result = []
    for url, item in schema.get("paths", {}).items():
        for method in sorted(item, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 9):
            op = item[method]
            body = op.get("requestBody", {}).get("content", {})
            body_types = [
                {"media_type": media, "schema": _schema_name(spec.get("schema"))}
                for media, spec in body.items()
            ]
            result.append(
                {
                    "method": method.upper(),
                    "path": url,
                    "anchor": op.get("operationId", f"{method}-{url}"),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["API"])[0],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "description": p.get("description", "")
                            or p.get("schema", {}).get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": body_types,
                    "responses": [
                        {
                            "code": code,
                            "description": resp.get("description", ""),
                            "schema": _schema_name(
                                next(iter(resp.get("content", {}).values()), {}).get("schema")
                            ),
                            "error": str(code).startswith(("4", "5")),
                        }
                        for code, resp in sorted(
                            op.get("responses", {}).items(), key=lambda item: str(item[0])
                        )
                    ],
                }
            )
    return result


def schemas(schema: dict) -> list[dict]:
    result = []
    for name, spec in sorted(schema.get("components", {}).get("schemas", {}).items()):
        required = set(spec.get("required", []))
        fields = []
        for field, fspec in spec.get("properties", {}).items():
            kind = _schema_name(fspec) if "$ref" in fspec or "type" in fspec else ""
            if not kind and "anyOf" in fspec:
                kind = " or ".join(_schema_name(s) for s in fspec["anyOf"])
            if "enum" in fspec:
                kind = " | ".join(str(v) for v in fspec["enum"])
            elif "const" in fspec:
                kind = str(fspec["const"])
            fields.append(
                {
                    "name": field,
                    "type": kind,
                    "required": field in required,
                    "description": fspec.get("description", ""),
                    "default": json.dumps(fspec["default"]) if "default" in fspec else "",
                }
            )
        result.append({"name": name, "description": spec.get("description", ""), "fields": fields})
    return result


class LocalDocs(DocsBase):
    """The docs page, rendered on the server from the schema."""

    def render_page(self, request: HttpRequest, api, **kwargs) -> HttpResponse:
        schema = api.get_openapi_schema(path_params=kwargs)
        ops = operations(schema)
        tags: dict[str, list[dict]] = {}
        for op in ops:
            tags.setdefault(op["tag"], []).append(op)
        context = {
            "title": schema["info"]["title"],
            "version": schema["info"]["version"],
            "description": schema["info"].get("description", ""),
            "tags": tags,
            "schemas": schemas(schema),
            "openapi_url": self.get_openapi_url(api, kwargs),
            "swagger_url": reverse(f"{api.urls_namespace}:docs-swagger"),
            "security": schema.get("components", {}).get("securitySchemes", {}),
        }
        return _render("api_docs.html", request, context)


def docs_urls(api) -> list:
    """Swagger UI (with the assets bundled in django-ninja) next to the docs page."""

    @require_GET
    def swagger(request: HttpRequest) -> HttpResponse:
        settings = {
            "url": reverse(f"{api.urls_namespace}:openapi-json"),
            "layout": "BaseLayout",
            "deepLinking": True,
        }
        context = {
            "title": api.title,
            "swagger_settings": json.dumps(settings),
            "csrf_token": get_token(request) if request.user.is_authenticated else "",
            "css_url": reverse(f"{api.urls_namespace}:docs-asset", args=["swagger-ui.css"]),
            "bundle_url": reverse(
                f"{api.urls_namespace}:docs-asset", args=["swagger-ui-bundle.js"]
            ),
            "init_url": reverse(f"{api.urls_namespace}:docs-asset", args=["swagger-ui-init.js"]),
            "docs_url": reverse(f"{api.urls_namespace}:openapi-view"),
        }
        return _render("api_swagger.html", request, context)

    @require_GET
    def asset(request: HttpRequest, name: str) -> FileResponse:
        if name not in ASSETS or not (NINJA_STATIC / name).is_file():
            raise Http404(name)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = FileResponse((NINJA_STATIC / name).open("rb"), content_type=content_type)
        response["Cache-Control"] = "public, max-age=86400"
        return response

    return [
        path("docs/swagger", swagger, name="docs-swagger"),
        path("docs/assets/<str:name>", asset, name="docs-asset"),
    ]
