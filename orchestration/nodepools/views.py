"""Nodepool pages: a nodepool's nodes and deployed models, its forms, adding nodes."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from orchestration.clusters.forms import add_model_errors
from orchestration.clusters.views import (
    _get_cluster_for_user,
    _get_editable_cluster,
    can_edit_cluster,
    deploy_url,
)
from orchestration.deployments.models import Deployment, ReplicaState
from orchestration.nodepools.forms import NodeForm, NodepoolForm
from orchestration.nodepools.models import Node, Nodepool

log = logging.getLogger(__name__)

NODEPOOL_CONSTRAINT_FIELDS = {
    "nodepool_slug_unique_per_cluster": "slug",
    "nodepool_min_nodes_lte_max": "min_nodes",
}
NODE_CONSTRAINT_FIELDS = {"node_name_unique_per_pool": "name"}


def _get_nodepool_for_user(request: HttpRequest, cluster_slug: str, nodepool_slug: str):
    cluster = _get_cluster_for_user(request, cluster_slug)
    nodepool = cluster.nodepools.filter(slug=nodepool_slug).first()
    if nodepool is None:
        raise Http404("No such nodepool")
    nodepool.cluster = cluster  # already loaded: saves a query per template use
    return nodepool


def _get_editable_nodepool(request: HttpRequest, cluster_slug: str, nodepool_slug: str):
    nodepool = _get_nodepool_for_user(request, cluster_slug, nodepool_slug)
    if not can_edit_cluster(request.user, nodepool.cluster):
        raise PermissionDenied("The shared nodepool is managed by administrators.")
    return nodepool


def nodepool_deployments(nodepool: Nodepool, user):
    """The user's deployments on this nodepool with their ready replica count.

    On the shared nodepool other users' deployments run too; they stay private.
    """
    return (
        Deployment.objects.filter(nodepool=nodepool, owner=user)
        .select_related("model", "model_version")
        .annotate(ready_count=Count("replicas", filter=Q(replicas__state=ReplicaState.READY)))
        .order_by("slug")
    )


def _nodepool_page(
    request: HttpRequest, nodepool: Nodepool, node_form: NodeForm | None, status: int = 200
) -> HttpResponse:
    can_edit = can_edit_cluster(request.user, nodepool.cluster)
    if can_edit and node_form is None:
        node_form = NodeForm(nodepool=nodepool)
    return render(
        request,
        "nodepools/detail.html",
        {
            "section": "compute",
            "cluster": nodepool.cluster,
            "nodepool": nodepool,
            "nodes": Node.objects.with_usage().filter(nodepool=nodepool).order_by("name"),
            "deployments": nodepool_deployments(nodepool, request.user),
            "can_edit": can_edit,
            "node_form": node_form if can_edit else None,
            "deploy_url": deploy_url(cluster=nodepool.cluster.slug, nodepool=nodepool.slug),
        },
        status=status,
    )


@require_http_methods(["GET"])
def nodepool_detail(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_nodepool_for_user(request, cluster_slug, nodepool_slug)
    return _nodepool_page(request, nodepool, None)


@require_http_methods(["GET", "POST"])
def nodepool_create(request: HttpRequest, cluster_slug: str) -> HttpResponse:
    cluster = _get_editable_cluster(request, cluster_slug)
    deploy = request.GET.get("deploy") == "1"
    form = NodepoolForm(request.POST or None, cluster=cluster)
    if request.method == "POST" and form.is_valid():
        nodepool = form.save(commit=False)
        nodepool.cluster = cluster
        try:
            nodepool.full_clean()
            with transaction.atomic():
                nodepool.save()
        except ValidationError as exc:
            add_model_errors(form, exc, Nodepool, NODEPOOL_CONSTRAINT_FIELDS)
        except IntegrityError:
            form.add_error("slug", "This cluster already has a nodepool with this ID.")
        else:
            if deploy:
                messages.success(request, f"Nodepool {nodepool.slug} created.")
                return redirect(
                    deploy_url(
                        cluster=cluster.slug,
                        nodepool=nodepool.slug,
                        model=request.GET.get("model", ""),
                    )
                )
            messages.success(
                request,
                f"Nodepool {nodepool.slug} created. Add a node (a Docker engine) to run models.",
            )
            return redirect(nodepool)
    return render(
        request,
        "nodepools/form.html",
        {
            "section": "compute",
            "form": form,
            "cluster": cluster,
            "nodepool": None,
            "deploy": deploy,
        },
    )


@require_http_methods(["GET", "POST"])
def nodepool_edit(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_editable_nodepool(request, cluster_slug, nodepool_slug)
    form = NodepoolForm(request.POST or None, instance=nodepool, cluster=nodepool.cluster)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Nodepool {nodepool.slug} saved.")
        return redirect(nodepool)
    return render(
        request,
        "nodepools/form.html",
        {"section": "compute", "form": form, "cluster": nodepool.cluster, "nodepool": nodepool},
    )


@require_http_methods(["GET", "POST"])
def nodepool_delete(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_editable_nodepool(request, cluster_slug, nodepool_slug)
    if nodepool.cluster.is_shared:
        messages.error(request, "The built-in shared nodepool cannot be deleted.")
        return redirect(nodepool)
    # Deployments protect their nodepool (PROTECT): their replicas must be removed first.
    blocking = Deployment.objects.filter(nodepool=nodepool)
    if request.method == "POST":
        if blocking.exists():
            messages.error(
                request, f"Nodepool {nodepool.slug} still has deployments; delete them first."
            )
            return redirect("clusters:nodepool_delete", cluster_slug, nodepool_slug)
        cluster = nodepool.cluster
        nodepool.delete()
        messages.success(request, f"Nodepool {nodepool_slug} was deleted.")
        return redirect(cluster)
    return render(
        request,
        "nodepools/delete.html",
        {
            "section": "compute",
            "cluster": nodepool.cluster,
            "nodepool": nodepool,
            "blocking": blocking,
            "node_count": nodepool.nodes.count(),
        },
    )


def _queue_probe(node_id: int) -> None:
    # Imported here: the task module loads the Docker client, which pages do not need.
    from orchestration.nodepools.tasks import probe_node

    probe_node.delay(node_id)


@require_http_methods(["POST"])
def node_add(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_editable_nodepool(request, cluster_slug, nodepool_slug)
    form = NodeForm(request.POST, nodepool=nodepool)
    if form.is_valid():
        node = form.save(commit=False)
        node.nodepool = nodepool
        try:
            node.full_clean()
            with transaction.atomic():
                node.save()
                # After commit, so the worker finds the row; robust: the periodic probe
                # covers the node if the broker is briefly unavailable.
                transaction.on_commit(lambda: _queue_probe(node.pk), robust=True)
        except ValidationError as exc:
            add_model_errors(form, exc, Node, NODE_CONSTRAINT_FIELDS)
        except IntegrityError:
            form.add_error("name", "This nodepool already has a node with this name.")
        else:
            messages.success(
                request, f"Node {node.name} added; its Docker engine is being checked."
            )
            return redirect(f"{nodepool.get_absolute_url()}#nodes")
    messages.error(request, "The node was not added: correct the fields marked below.")
    return _nodepool_page(request, nodepool, form)


@require_http_methods(["POST"])
def node_delete(
    request: HttpRequest, cluster_slug: str, nodepool_slug: str, node_id: int
) -> HttpResponse:
    nodepool = _get_editable_nodepool(request, cluster_slug, nodepool_slug)
    node = get_object_or_404(Node, pk=node_id, nodepool=nodepool)
    # Deleting a node with live replicas would orphan their containers on that engine.
    live = node.replicas.exclude(state__in=[ReplicaState.STOPPED, ReplicaState.FAILED]).count()
    if live:
        messages.error(
            request,
            f"Node {node.name} still runs {live} replica(s); "
            "scale down or delete their deployments first.",
        )
    else:
        node.delete()
        messages.success(request, f"Node {node.name} removed from {nodepool.slug}.")
    return redirect(f"{nodepool.get_absolute_url()}#nodes")
