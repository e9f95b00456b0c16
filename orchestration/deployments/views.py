"""Deployment pages: the list, the deploy form, a deployment's page, edit and delete."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from orchestration.accounts.access import Perm
from orchestration.deployments import actions as deployment_actions
from orchestration.deployments.costs import deployment_cost
from orchestration.deployments.forms import (
    DEPLOYMENT_CONSTRAINT_FIELDS,
    DeploymentCreateForm,
    DeploymentEditForm,
    already_deployed_error,
)
from orchestration.deployments.history import deployment_charts
from orchestration.deployments.list_sorts import sorted_listing
from orchestration.deployments.models import (
    Deployment,
    DeploymentStatus,
    ReplicaState,
)
from orchestration.deployments.preview import build_preview, preview_params
from orchestration.deployments.scaling_reason import scaling_reason
from orchestration.errors import ActionError
from orchestration.nodepools.models import NodeStatus
from orchestration.web.forms import add_action_errors
from orchestration.web.htmx import htmx_partial, render_htmx
from orchestration.web.pagination import page_of

LIVE_TARGET = "live"
LIST_TARGET = "deployment-list"
CHARTS_TARGET = "charts"
PREVIEW_TARGET = "preview"
# While any replica or the deployment itself is in one of these, the page polls.
MOVING_REPLICA_STATES = (ReplicaState.PENDING, ReplicaState.STARTING, ReplicaState.DRAINING)
MOVING_STATUSES = (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING, DeploymentStatus.DELETING)


def _owned_deployments(owner) -> QuerySet[Deployment]:
    return (
        Deployment.objects.owned_by(owner)
        .select_related("model", "model_version", "nodepool__cluster")
        .with_ready_count()
    )


def _get_deployment_for_user(request: HttpRequest, slug: str) -> Deployment:
    """The space's deployment by id; another's is a 404 so its existence does not leak."""
    deployment = _owned_deployments(request.space.account).filter(slug=slug).first()
    if deployment is None:
        raise Http404("No such deployment")
    return deployment


@require_http_methods(["GET"])
def deployment_list(request: HttpRequest) -> HttpResponse:
    sort = request.GET.get("sort")
    if sort in ("cost", "-cost") and not request.space.can(Perm.BILLING):
        sort = None  # the order would tell what the role may not see
    deployments, sort = sorted_listing(_owned_deployments(request.space.account), sort)
    context = {
        "section": "deployments",
        "page": page_of(request, deployments),
        "sort": sort,
        "can_deploy": request.space.can(Perm.DEPLOY),
    }
    return render_htmx(
        request,
        "deployments/list.html",
        "deployments/_list_table.html",
        context,
        target=LIST_TARGET,
    )


# -- the deploy form -------------------------------------------------------------------

SECTION_TEMPLATES = {
    "model-section": "deployments/_model_section.html",
    "compute-section": "deployments/_compute_section.html",
}


def _initial_from(params: QueryDict) -> dict[str, str]:
    """Choices already made, from the query string (?model=&cluster=&nodepool=&version=)
    or from a form re-rendered without JavaScript."""
    initial = {k: v for k, v in params.items() if k != "csrfmiddlewaretoken" and v != ""}
    if "version" in initial:
        initial.setdefault("model_version", initial.pop("version"))
    return initial


def _compute_details(form: DeploymentCreateForm, user) -> dict:
    """What the details beside the Cluster and Nodepool choices show."""
    nodepool = form.selected_nodepool
    context: dict = {"cluster_nodepool_count": None, "nodepool_nodes": [], "running_here": []}
    if form.selected_cluster is not None:
        context["cluster_nodepool_count"] = form.selected_cluster.nodepools.count()
    if nodepool is not None:
        nodes = list(nodepool.nodes.all())
        context["nodepool_nodes"] = nodes
        context["nodepool_ready_nodes"] = sum(n.status == NodeStatus.READY for n in nodes)
        context["running_here"] = nodepool.deployments.listed_for(user)
    return context


def _deploy_form_page(request: HttpRequest, form: DeploymentCreateForm) -> HttpResponse:
    context = {
        "section": "deployments",
        "form": form,
        "has_models": form.fields["model"].queryset.exists(),
        **_compute_details(form, request.space.account),
    }
    for target, template in SECTION_TEMPLATES.items():
        if htmx_partial(request, target):
            return render_htmx(request, "deployments/create.html", template, context, target=target)
    context["preview"] = build_preview(request.space.account, preview_params(form))
    return render_htmx(request, "deployments/create.html", "deployments/create.html", context)


def _create(request: HttpRequest, form: DeploymentCreateForm) -> Deployment | None:
    """Create the deployment from a valid form; a refusal is shown on the form."""
    data = form.cleaned_data
    try:
        return deployment_actions.create_deployment(
            owner=request.space.account,
            actor=request.user,
            slug=data["slug"],
            description=data["description"],
            model=data["model"],
            model_version=data["model_version"],
            nodepool=data["nodepool"],
            settings={name: data[name] for name in form.SETTINGS},
        )
    except ActionError as exc:
        if any(e["field"] == "one_deployment_per_model_per_nodepool" for e in exc.errors):
            # Say which deployment holds the nodepool, with a link, as the form would.
            existing = (
                Deployment.objects.active()
                .filter(model=data["model"], nodepool=data["nodepool"])
                .first()
            )
            if existing is not None:
                form.add_error("nodepool", already_deployed_error(existing))
                return None
        add_action_errors(form, exc, DEPLOYMENT_CONSTRAINT_FIELDS)
        return None


@require_http_methods(["GET", "POST"])
def deployment_create(request: HttpRequest) -> HttpResponse:
    # "_refresh" is the no-JavaScript "Update choices" button: re-render with the model
    # and cluster picked so far, without validating a half-filled form.
    request.space.require(Perm.DEPLOY)
    owner = request.space.account
    if request.method == "POST" and "_refresh" not in request.POST:
        form = DeploymentCreateForm(request.POST, user=owner)
        if form.is_valid():
            deployment = _create(request, form)
            if deployment is not None:
                messages.success(
                    request,
                    f"Deploying {deployment.model.slug} as {deployment.slug}: "
                    f"its replicas are starting on {deployment.nodepool}.",
                )
                return redirect(deployment.nodepool)
    else:
        params = request.POST if request.method == "POST" else request.GET
        form = DeploymentCreateForm(user=owner, initial=_initial_from(params))
    return _deploy_form_page(request, form)


# -- one deployment ----------------------------------------------------------------------


def _is_moving(deployment: Deployment, replicas: list) -> bool:
    return deployment.status in MOVING_STATUSES or any(
        r.state in MOVING_REPLICA_STATES for r in replicas
    )


@require_http_methods(["GET"])
def deployment_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        deployment = _get_deployment_for_user(request, slug)
    except Http404:
        if htmx_partial(request, LIVE_TARGET) or htmx_partial(request, CHARTS_TARGET):
            # The poll outlived the deployment (deleted meanwhile): leave the page
            # instead of polling a 404 forever. Still a 404 (htmx follows HX-Redirect
            # whatever the status), so a forged request learns nothing.
            messages.info(request, f"Deployment {slug} no longer exists.")
            response = HttpResponseClientRedirect(reverse("deployments:list"))
            response.status_code = 404
            return response
        raise
    if htmx_partial(request, CHARTS_TARGET):
        context = {
            "deployment": deployment,
            "charts": deployment_charts(deployment),
            "scaling": scaling_reason(deployment),
        }
        return render_htmx(
            request,
            "deployments/detail.html",
            "deployments/_charts.html",
            context,
            target=CHARTS_TARGET,
        )
    replicas = list(
        deployment.replicas.exclude(state=ReplicaState.STOPPED)
        .select_related("node")
        .order_by("created_at", "id")
    )
    context = {
        "section": "deployments",
        "deployment": deployment,
        "replicas": replicas,
        "polling": _is_moving(deployment, replicas),
        "events": deployment.events.select_related("actor")[:50],
        "nodepool": deployment.nodepool,
        "cluster": deployment.nodepool.cluster,
    }
    if not htmx_partial(request, LIVE_TARGET):
        context["charts"] = deployment_charts(deployment)
        context["cost"] = deployment_cost(deployment)
        context["scaling"] = scaling_reason(deployment)
    return render_htmx(
        request, "deployments/detail.html", "deployments/_live.html", context, target=LIVE_TARGET
    )


@require_http_methods(["GET", "POST"])
def deployment_edit(request: HttpRequest, slug: str) -> HttpResponse:
    deployment = _get_deployment_for_user(request, slug)
    request.space.require(Perm.DEPLOY)
    if deployment.status == DeploymentStatus.DELETING:
        messages.error(request, f"Deployment {slug} is being deleted and cannot change.")
        return redirect(deployment)
    form = DeploymentEditForm(request.POST or None, deployment=deployment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        names = (*form.SETTINGS, "description", "model_version")

        def describe(name: str, old, new) -> str:
            if name == "model_version":
                return f"version v{old} → v{new}"
            return f"{form.fields[name].label.lower()} {old} → {new}"

        try:
            deployment_actions.update_deployment(
                deployment,
                {name: data[name] for name in names},
                actor=request.user,
                describe=describe,
            )
        except ActionError as exc:
            add_action_errors(form, exc, DEPLOYMENT_CONSTRAINT_FIELDS)
        else:
            messages.success(request, f"Deployment {slug} saved; replicas follow the new settings.")
            return redirect(deployment)
    preview = build_preview(request.space.account, preview_params(form, deployment=deployment.slug))
    return render(
        request,
        "deployments/edit.html",
        {
            "section": "deployments",
            "form": form,
            "deployment": deployment,
            "nodepool": deployment.nodepool,
            "cluster": deployment.nodepool.cluster,
            "preview": preview,
        },
    )


@require_http_methods(["GET"])
def deployment_preview(request: HttpRequest) -> HttpResponse:
    """The what-if preview for the settings in the query string (the forms' fields).

    htmx swaps the fragment into the form; without JavaScript it is a page of its own.
    """
    preview = build_preview(request.space.account, request.GET)
    return render_htmx(
        request,
        "deployments/preview.html",
        "deployments/_preview.html",
        {"section": "deployments", "preview": preview},
        target=PREVIEW_TARGET,
    )


@require_http_methods(["GET", "POST"])
def deployment_delete(request: HttpRequest, slug: str) -> HttpResponse:
    deployment = _get_deployment_for_user(request, slug)
    request.space.require(Perm.DEPLOY)
    if request.method == "POST":
        deployment_actions.request_delete(deployment, actor=request.user)
        messages.success(
            request,
            f"Deleting deployment {slug}: its replicas are being stopped, then it disappears.",
        )
        return redirect("deployments:list")
    return render(
        request,
        "deployments/delete.html",
        {
            "section": "deployments",
            "deployment": deployment,
            "live_replicas": deployment.replicas.live().count(),
        },
    )
