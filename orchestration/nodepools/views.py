"""Nodepool pages: a nodepool's nodes and deployed models, its forms, adding nodes."""

from __future__ import annotations

import copy
import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from orchestration.accounts.access import DENIED, Perm
from orchestration.clusters.access import (
    can_edit_cluster,
    get_cluster_for_user,
    get_editable_cluster,
)
from orchestration.errors import ActionError
from orchestration.nodepools import actions as nodepool_actions
from orchestration.nodepools.forms import NodeForm, NodepoolForm
from orchestration.nodepools.models import Node, Nodepool
from orchestration.web.forms import add_action_errors
from orchestration.web.links import deploy_url

log = logging.getLogger(__name__)

NODEPOOL_CONSTRAINT_FIELDS = {
    "nodepool_slug_unique_per_cluster": "slug",
    "nodepool_min_nodes_lte_max": "min_nodes",
    "nodepool_swarm_has_manager": "manager_url",
}
# Changing these makes the action ask the Swarm manager again: sent only when changed, so
# that saving a swarm nodepool's description does not wait on (or fail with) its manager.
SWARM_SETTINGS = ("runtime", "manager_url", "node_labels")
SWARM_NODES = (
    "Nodes come from the swarm: join an engine with docker swarm join and label it to add one."
)
NODE_CONSTRAINT_FIELDS = {"node_name_unique_per_pool": "name"}
NODE_FORM_FIELDS = NodeForm.Meta.fields


def _get_nodepool_for_user(request: HttpRequest, cluster_slug: str, nodepool_slug: str):
    cluster = get_cluster_for_user(request, cluster_slug)
    nodepool = cluster.nodepools.filter(slug=nodepool_slug).first()
    if nodepool is None:
        raise Http404("No such nodepool")
    nodepool.cluster = cluster  # already loaded: saves a query per template use
    return nodepool


def _get_editable_nodepool(request: HttpRequest, cluster_slug: str, nodepool_slug: str):
    nodepool = _get_nodepool_for_user(request, cluster_slug, nodepool_slug)
    if not can_edit_cluster(request.space, nodepool.cluster):
        if nodepool.cluster.is_shared:
            raise PermissionDenied("The shared nodepool is managed by administrators.")
        raise PermissionDenied(DENIED[Perm.COMPUTE])
    return nodepool


def _nodepool_page(
    request: HttpRequest, nodepool: Nodepool, node_form: NodeForm | None, status: int = 200
) -> HttpResponse:
    can_edit = can_edit_cluster(request.space, nodepool.cluster)
    # The space's own deployments: on a shared nodepool, others' (and their cost) are private.
    deployments, cost = nodepool.deployments.listed_for(request.space.account).with_costs()
    if nodepool.is_swarm:
        node_form = None  # the swarm's nodes are mirrored, not added here
    elif can_edit and node_form is None:
        node_form = NodeForm(nodepool=nodepool)
    return render(
        request,
        "nodepools/detail.html",
        {
            "section": "compute",
            "cluster": nodepool.cluster,
            "nodepool": nodepool,
            "nodes": Node.objects.with_usage().filter(nodepool=nodepool).order_by("name"),
            "deployments": deployments,
            "cost": cost,
            "can_edit": can_edit,
            "node_form": node_form if can_edit else None,
            "deploy_url": deploy_url(cluster=nodepool.cluster.slug, nodepool=nodepool.slug),
            "swarm_nodes_text": SWARM_NODES,
        },
        status=status,
    )


@require_http_methods(["GET"])
def nodepool_detail(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_nodepool_for_user(request, cluster_slug, nodepool_slug)
    return _nodepool_page(request, nodepool, None)


@require_http_methods(["GET", "POST"])
def nodepool_create(request: HttpRequest, cluster_slug: str) -> HttpResponse:
    cluster = get_editable_cluster(request, cluster_slug)
    deploy = request.GET.get("deploy") == "1"
    form = NodepoolForm(request.POST or None, cluster=cluster)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            nodepool = nodepool_actions.create_nodepool(
                cluster=cluster,
                actor=request.user,
                **{name: data[name] for name in form.Meta.fields},
            )
        except ActionError as exc:
            add_action_errors(form, exc, NODEPOOL_CONSTRAINT_FIELDS)
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
            if nodepool.is_swarm:
                messages.success(
                    request,
                    f"Nodepool {nodepool.slug} created. Its nodes are read from the swarm's "
                    "manager.",
                )
            else:
                messages.success(
                    request,
                    f"Nodepool {nodepool.slug} created. Add a node (a Docker engine) to run "
                    "models.",
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
    # The form writes what was posted into its instance while validating: a copy, so that
    # the action compares the changes with the nodepool as it is (its runtime, say).
    form = NodepoolForm(
        request.POST or None, instance=copy.copy(nodepool), cluster=nodepool.cluster
    )
    if request.method == "POST" and form.is_valid():
        changes = {
            name: form.cleaned_data[name]
            for name in form.Meta.fields
            if name != "slug"
            and (name not in SWARM_SETTINGS or form.cleaned_data[name] != getattr(nodepool, name))
        }
        try:
            nodepool_actions.update_nodepool(nodepool, changes)
        except ActionError as exc:
            add_action_errors(form, exc, NODEPOOL_CONSTRAINT_FIELDS)
        else:
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
    blocking = nodepool.deployments.all()
    if request.method == "POST":
        cluster = nodepool.cluster
        try:
            nodepool_actions.delete_nodepool(nodepool, actor=request.user)
        except ActionError as exc:
            messages.error(request, exc.message)
            return redirect("clusters:nodepool_delete", cluster_slug, nodepool_slug)
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


@require_http_methods(["POST"])
def node_add(request: HttpRequest, cluster_slug: str, nodepool_slug: str) -> HttpResponse:
    nodepool = _get_editable_nodepool(request, cluster_slug, nodepool_slug)
    if nodepool.is_swarm:
        messages.error(request, f"No node was added. {SWARM_NODES}")
        return redirect(f"{nodepool.get_absolute_url()}#nodes")
    form = NodeForm(request.POST, nodepool=nodepool)
    if form.is_valid():
        unsaved = form.save(commit=False)
        try:
            node = nodepool_actions.add_node(
                nodepool=nodepool,
                **{name: getattr(unsaved, name) for name in NODE_FORM_FIELDS},
            )
        except ActionError as exc:
            add_action_errors(form, exc, NODE_CONSTRAINT_FIELDS)
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
    try:
        nodepool_actions.delete_node(node)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Node {node.name} removed from {nodepool.slug}.")
    return redirect(f"{nodepool.get_absolute_url()}#nodes")
