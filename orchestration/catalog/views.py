"""Model pages: the model list and a model's tabs (Overview, Versions, Deployments)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from orchestration.accounts.access import Perm
from orchestration.catalog import actions as catalog_actions
from orchestration.catalog.models import Model, ModelVersion
from orchestration.errors import Blocked
from orchestration.web.htmx import htmx_partial, render_htmx
from orchestration.web.links import deploy_url
from orchestration.web.pagination import page_of

TABS_TARGET = "model-tabs"
SDK_TARGET = "sdk-snippet"

# ?sort= on the Deployments tab: the URL's key -> ORDER BY. Only these keys reach the
# database; ties break on the other columns so the order is stable between requests.
DEPLOYMENT_SORTS: dict[str, tuple[str, ...]] = {
    "deployment": ("slug",),
    "-deployment": ("-slug",),
    "cluster": ("nodepool__cluster__slug", "nodepool__slug", "slug"),
    "-cluster": ("-nodepool__cluster__slug", "-nodepool__slug", "-slug"),
    "nodepool": ("nodepool__slug", "nodepool__cluster__slug", "slug"),
    "-nodepool": ("-nodepool__slug", "-nodepool__cluster__slug", "-slug"),
}
DEFAULT_DEPLOYMENT_SORT = "deployment"


def _get_model_for_user(request: HttpRequest, slug: str) -> Model:
    """The space's model by id; another space's is a 404 so its existence does not leak."""
    model = Model.objects.owned_by(request.space.account).filter(slug=slug).first()
    if model is None:
        raise Http404("No such model")
    return model


def _is_image_model(model: Model) -> bool:
    # model_type_id is free text from config.yaml ("visual-classifier", "image-to-text").
    kind = model.model_type_id.lower()
    return any(word in kind for word in ("image", "visual", "vision", "detector"))


def _model_deployments(model: Model):
    return model.deployments.select_related("model_version", "nodepool__cluster").with_ready_count()


def _tab_page(request: HttpRequest, model: Model, tab: str, **extra) -> HttpResponse:
    context = {
        "section": "models",
        "model": model,
        "tab": tab,
        "deploy_url": deploy_url(model=model.slug),
        **extra,
    }
    return render_htmx(
        request, "catalog/detail.html", "catalog/_tabs.html", context, target=TABS_TARGET
    )


@require_http_methods(["GET"])
def model_list(request: HttpRequest) -> HttpResponse:
    models = (
        Model.objects.owned_by(request.space.account)
        .annotate(
            version_count=Count("versions", distinct=True),
            deployment_count=Count("deployments", distinct=True),
        )
        .order_by("slug")
    )
    page = page_of(request, models)
    on_page = list(page.object_list)
    latest = {}
    for version in ModelVersion.objects.filter(model__in=[m.pk for m in on_page]).order_by(
        "model_id", "-number"
    ):
        latest.setdefault(version.model_id, version)
    rows = [(m, latest.get(m.pk)) for m in on_page]
    context = {
        "section": "models",
        "rows": rows,
        "page": page,
        "can_upload": request.space.can(Perm.MODELS),
    }
    return render(request, "catalog/list.html", context)


def _grpc_base_url(request: HttpRequest) -> str:
    """The base URL the clarifai SDK reaches this portal's gRPC API at, from this host."""
    host, _port = split_domain_port(request.get_host())
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    scheme = "https" if settings.GRPC_TLS_CERT else "http"
    return f"{scheme}://{host or 'localhost'}:{settings.GRPC_PORT}"


def _sdk_context(request: HttpRequest, model: Model, deployments) -> dict:
    """The chosen deployment (?deployment=, Shared when none or unknown) for the SDK snippet."""
    wanted = request.GET.get("deployment", "")
    chosen = next((d for d in deployments if d.slug == wanted), None)
    return {
        "sdk_deployment": chosen,
        "sdk_base_url": _grpc_base_url(request),
        "sdk_image_input": _is_image_model(model),
    }


@require_http_methods(["GET"])
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The Overview tab: what the model is, the predict form and the SDK snippet."""
    model = _get_model_for_user(request, slug)
    deployments = list(model.deployments.select_related("nodepool__cluster").order_by("slug"))
    sdk = _sdk_context(request, model, deployments)
    if htmx_partial(request, SDK_TARGET):
        # The Deployment dropdown changed: only the snippet follows it.
        return render_htmx(
            request, "catalog/detail.html", "catalog/_sdk_snippet.html", {"model": model, **sdk}
        )
    return _tab_page(
        request,
        model,
        "overview",
        latest=model.latest_version(),
        latest_ready=model.latest_ready_version(),
        deployments=deployments,
        image_input=sdk["sdk_image_input"],
        streams=model.versions.filter(streams=True).exists(),
        **sdk,
    )


@require_http_methods(["GET"])
def model_versions(request: HttpRequest, slug: str) -> HttpResponse:
    model = _get_model_for_user(request, slug)
    versions = model.versions.annotate(deployment_count=Count("deployments")).order_by("-number")
    return _tab_page(request, model, "versions", versions=versions)


@require_http_methods(["GET"])
def model_deployments(request: HttpRequest, slug: str) -> HttpResponse:
    model = _get_model_for_user(request, slug)
    sort = request.GET.get("sort", DEFAULT_DEPLOYMENT_SORT)
    if sort not in DEPLOYMENT_SORTS:
        sort = DEFAULT_DEPLOYMENT_SORT
    # Every deployment, on one page (SPEC): a model has at most one per nodepool.
    deployments = _model_deployments(model).order_by(*DEPLOYMENT_SORTS[sort])
    return _tab_page(request, model, "deployments", deployments=deployments, sort=sort)


@require_http_methods(["GET"])
def version_detail(request: HttpRequest, slug: str, version_id: str) -> HttpResponse:
    model = _get_model_for_user(request, slug)
    version = model.versions.filter(version_id=version_id).first()
    if version is None:
        raise Http404("No such version")
    version.model = model
    context = {
        "section": "models",
        "model": model,
        "version": version,
        "deployments": version.deployments.select_related("nodepool__cluster").order_by("slug"),
        "deploy_url": deploy_url(model=model.slug, version=version.version_id),
    }
    return render_htmx(
        request, "catalog/version.html", "catalog/_build.html", context, target="build"
    )


@require_http_methods(["GET", "POST"])
def model_delete(request: HttpRequest, slug: str) -> HttpResponse:
    model = _get_model_for_user(request, slug)
    request.space.require(Perm.MODELS)
    # Deployments run the model's versions (PROTECT): they must be removed first.
    blocking = model.deployments.select_related("nodepool__cluster").order_by("slug")
    if request.method == "POST":
        try:
            catalog_actions.delete_model(model, actor=request.user)
        except Blocked as exc:
            messages.error(request, exc.message)
            return redirect("models:delete", model.slug)
        messages.success(request, f"Model {slug} and its versions were deleted.")
        return redirect("models:list")
    return render(
        request,
        "catalog/delete.html",
        {
            "section": "models",
            "model": model,
            "blocking": blocking,
            "version_count": model.versions.count(),
        },
    )
