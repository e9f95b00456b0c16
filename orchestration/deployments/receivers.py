"""Deployments' answers to what the apps below them announce (connected in apps.py)."""

from __future__ import annotations

from orchestration.accounts.signals import keys_revoked
from orchestration.catalog.signals import version_build_finished
from orchestration.deployments import routing_state, tasks
from orchestration.deployments.models import Deployment, OrphanedContainers
from orchestration.nodepools.signals import node_ready, node_unreachable


def _reconcile_version_deployments(sender, version_id: int, **kwargs) -> None:
    # A finished build unblocks (or fails) the deployments waiting for its image.
    for deployment_id in Deployment.objects.filter(model_version_id=version_id).values_list(
        "pk", flat=True
    ):
        tasks.reconcile_deployment.delay(deployment_id)


def _node_went_away(sender, node, **kwargs) -> None:
    tasks.reconcile_nodepool.delay(node.nodepool_id)


def _node_answers(sender, node, came_back: bool, **kwargs) -> None:
    if came_back:
        tasks.reconcile_nodepool.delay(node.nodepool_id)
    if OrphanedContainers.objects.filter(node=node).exists():
        # Deleted deployments' containers left here while the node was unreachable.
        tasks.remove_orphaned_containers.delay(node.pk)


def _publish_revoked_keys(sender, token_hashes: list[str], **kwargs) -> None:
    # Routing_state only publishes on Redis; the routers above listen and forget the keys.
    for token_hash in token_hashes:
        routing_state.key_revoked(token_hash)


def connect() -> None:
    keys_revoked.connect(_publish_revoked_keys, dispatch_uid="deployments")
    version_build_finished.connect(_reconcile_version_deployments, dispatch_uid="deployments")
    node_unreachable.connect(_node_went_away, dispatch_uid="deployments")
    node_ready.connect(_node_answers, dispatch_uid="deployments")
