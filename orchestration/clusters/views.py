"""Compute pages: the cluster list, a cluster's page and its create/edit/delete forms."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from orchestration.accounts.access import Perm
from orchestration.clusters import actions as cluster_actions
from orchestration.clusters.access import (
    can_edit_cluster,
    get_cluster_for_user,
    get_editable_cluster,
    visible_clusters,
)
from orchestration.clusters.forms import ClusterForm
from orchestration.errors import ActionError
from orchestration.web.forms import add_action_errors
from orchestration.web.links import deploy_url
from orchestration.web.pagination import page_of

CLUSTER_CONSTRAINT_FIELDS = {"cluster_slug_unique_per_owner": "slug"}


@require_http_methods(["GET"])
def cluster_list(request: HttpRequest) -> HttpResponse:
    clusters = (
        visible_clusters(request.space.account)
        .annotate(nodepool_count=Count("nodepools", distinct=True))
        .order_by("-is_shared", "slug")
    )
    has_own = clusters.filter(is_shared=False).exists()
    return render(
        request,
        "clusters/list.html",
        {
            "section": "compute",
            "page": page_of(request, clusters),
            "has_own": has_own,
            "can_create": request.space.can(Perm.COMPUTE),
        },
    )


@require_http_methods(["GET", "POST"])
def cluster_create(request: HttpRequest) -> HttpResponse:
    # ?deploy=1 comes from the deploy form: after this, create a nodepool, then go back.
    deploy = request.GET.get("deploy") == "1"
    model_slug = request.GET.get("model", "")
    request.space.require(Perm.COMPUTE)
    form = ClusterForm(request.POST or None, owner=request.space.account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            cluster = cluster_actions.create_cluster(
                owner=request.space.account,
                actor=request.user,
                **{name: data[name] for name in form.Meta.fields},
            )
        except ActionError as exc:
            add_action_errors(form, exc, CLUSTER_CONSTRAINT_FIELDS)
        else:
            messages.success(request, f"Cluster {cluster.slug} created. Now add a nodepool to it.")
            url = reverse("clusters:nodepool_create", args=[cluster.slug])
            if deploy:
                return redirect(f"{url}?{urlencode({'deploy': '1', 'model': model_slug})}")
            return redirect(url)
    return render(
        request,
        "clusters/form.html",
        {"section": "compute", "form": form, "cluster": None, "deploy": deploy},
    )


@require_http_methods(["GET"])
def cluster_detail(request: HttpRequest, cluster_slug: str) -> HttpResponse:
    cluster = get_cluster_for_user(request, cluster_slug)
    nodepools = cluster.nodepools.annotate(
        node_count=Count("nodes", distinct=True),
        deployment_count=Count(
            "deployments", filter=Q(deployments__owner=request.space.account), distinct=True
        ),
    ).order_by("slug")
    return render(
        request,
        "clusters/detail.html",
        {
            "section": "compute",
            "cluster": cluster,
            "nodepools": nodepools,
            "can_edit": can_edit_cluster(request.space, cluster),
            "deploy_url": deploy_url(cluster=cluster.slug),
        },
    )


@require_http_methods(["GET", "POST"])
def cluster_edit(request: HttpRequest, cluster_slug: str) -> HttpResponse:
    cluster = get_editable_cluster(request, cluster_slug)
    form = ClusterForm(request.POST or None, instance=cluster, owner=cluster.owner)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields if name != "slug"}
        try:
            cluster_actions.update_cluster(cluster, changes)
        except ActionError as exc:
            add_action_errors(form, exc, CLUSTER_CONSTRAINT_FIELDS)
        else:
            messages.success(request, f"Cluster {cluster.slug} saved.")
            return redirect(cluster)
    return render(
        request, "clusters/form.html", {"section": "compute", "form": form, "cluster": cluster}
    )


@require_http_methods(["GET", "POST"])
def cluster_delete(request: HttpRequest, cluster_slug: str) -> HttpResponse:
    cluster = get_editable_cluster(request, cluster_slug)
    if cluster.is_shared:
        # Prediction without a chosen deployment relies on the shared compute.
        messages.error(request, "The built-in shared cluster cannot be deleted.")
        return redirect(cluster)
    if request.method == "POST":
        slug = cluster.slug
        try:
            cluster_actions.delete_cluster(cluster, actor=request.user)
        except ActionError as exc:
            messages.error(request, exc.message)
            return redirect("clusters:delete", cluster.slug)
        messages.success(request, f"Cluster {slug} and its nodepools were deleted.")
        return redirect("clusters:list")
    return render(
        request,
        "clusters/delete.html",
        {
            "section": "compute",
            "cluster": cluster,
            # Deployments protect their nodepool: their containers must be stopped first.
            "blocking": [
                deployment
                for nodepool in cluster.nodepools.prefetch_related("deployments")
                for deployment in nodepool.deployments.all()
            ],
            "nodepool_count": cluster.nodepools.count(),
        },
    )
