"""What this app asks of Docker engines: its container labels, finding and removing a
deployment's or a replica's containers, and getting an image onto a node.

Only Celery tasks reach this module (through reconcile and lifecycle): views never wait
on Docker.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from orchestration import docker_engine
from orchestration.nodepools.models import Node, NodeStatus

LABEL_MANAGED = "orchestration.managed"
LABEL_DEPLOYMENT = "orchestration.deployment"
LABEL_REPLICA = "orchestration.replica"
LABEL_VERSION = "orchestration.model-version"
LABEL_INSTANCE = "orchestration.instance"


def container_labels(deployment_id: int) -> dict[str, str]:
    """The labels that find a deployment's containers, scoped to this installation.

    Two installations (or test runs) may share a Docker engine and reuse deployment ids;
    the instance label keeps each from treating the other's containers as orphans.
    """
    return {LABEL_INSTANCE: settings.INSTANCE_ID, LABEL_DEPLOYMENT: str(deployment_id)}


def replica_labels(replica_id: int) -> dict[str, str]:
    return {LABEL_INSTANCE: settings.INSTANCE_ID, LABEL_REPLICA: str(replica_id)}


def replica_environment(target_concurrency: int, config: Any) -> dict[str, str]:
    """The runner's settings for a replica: how many model calls it runs at once (the
    deployment's target concurrency) and, when the version's config.yaml asks for it,
    dynamic batching (see orchestration/runner/server.py)."""
    env = {"MODEL_CONCURRENCY": str(max(1, target_concurrency))}
    batching = config.get("batching") if isinstance(config, dict) else None
    if isinstance(batching, dict):
        size, wait = batching.get("max_batch_size"), batching.get("max_wait_ms")
        # Checked at upload; a config stored before that check existed is skipped, not
        # passed on for the runner to second-guess.
        if (
            isinstance(size, int)
            and not isinstance(size, bool)
            and isinstance(wait, int | float)
            and not isinstance(wait, bool)
        ):
            env["BATCH_MAX_SIZE"] = str(size)
            env["BATCH_MAX_WAIT_MS"] = str(wait)
    return env


def replica_container_spec(replica: Any, started_at: float) -> dict[str, Any]:
    """What `docker_engine.run_replica` (or `create_replica`) is given for a placed
    replica: its version's image and requests, the runner's settings, and exactly the
    accelerator devices placement gave it."""
    deployment, version = replica.deployment, replica.model_version
    return {
        "image": version.image,
        "name": f"orch-{deployment.pk}-{replica.pk}-{int(started_at)}",
        "labels": {
            LABEL_MANAGED: "true",
            **container_labels(deployment.pk),
            LABEL_REPLICA: str(replica.pk),
            LABEL_VERSION: version.version_id,
        },
        "cpu": version.requested_cpu(),
        "memory_bytes": version.requested_memory(),
        "env": replica_environment(deployment.target_concurrency, version.config),
        "start_cpu": settings.REPLICA_START_CPU,
        "gpu_ids": [str(d) for d in replica.accelerator_ids or []],
    }


def remove_deployment_containers(node: Node, deployment_key: int) -> None:
    for container in docker_engine.list_containers(
        node.engine_url, labels=container_labels(deployment_key)
    ):
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=10)


def remove_replica_containers(node: Node | None, replica_id: int) -> None:
    """Every container labelled with the replica, including one its row never learned of."""
    if node is None:
        return
    for container in docker_engine.list_containers(
        node.engine_url, labels=replica_labels(replica_id)
    ):
        docker_engine.stop_and_remove(node.engine_url, container.id, timeout=5)


def ensure_image(node: Node, image: str) -> None:
    if docker_engine.image_exists(node.engine_url, image):
        return
    # Images are built on the default engine; other nodes receive a copy.
    docker_engine.transfer_image(settings.DOCKER_URL, node.engine_url, image)


def mark_unreachable(node: Node, exc: Exception) -> None:
    Node.objects.filter(pk=node.pk).update(
        status=NodeStatus.UNREACHABLE, status_message=str(exc)[:500]
    )
