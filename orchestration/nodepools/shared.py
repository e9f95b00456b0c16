"""The built-in `shared` cluster and nodepool, backed by the local Docker engine."""

from __future__ import annotations

import os
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from orchestration.clusters.models import SHARED_ID, CloudProvider, Cluster
from orchestration.nodepools.models import Node, Nodepool

LOCAL_NODE_NAME = "local"


def _host_capacity() -> tuple[Decimal, int]:
    cpus = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        # Whole GiB: reads well ("23Gi") and leaves the host a little headroom.
        memory = max(memory // 1024**3, 1) * 1024**3
    except (ValueError, OSError):
        memory = 4 * 1024**3
    return Decimal(cpus), int(memory)


@transaction.atomic
def ensure_shared_compute() -> Nodepool:
    """Create the shared cluster, nodepool and local node if missing; safe to run again."""
    cluster, _ = Cluster.objects.get_or_create(
        slug=SHARED_ID,
        owner=None,
        defaults={
            "is_shared": True,
            "description": "Built-in shared compute on this host's Docker engine",
            "cloud_provider": CloudProvider.LOCAL,
            "region": "local",
        },
    )
    cpus, memory = _host_capacity()
    nodepool, _ = Nodepool.objects.get_or_create(
        cluster=cluster,
        slug=SHARED_ID,
        defaults={
            "description": "Shared nodepool: the local Docker engine",
            "instance_type": "local-docker",
            "cpu_cores": cpus,
            "memory_bytes": memory,
            "min_nodes": 1,
            "max_nodes": 1,
        },
    )
    Node.objects.get_or_create(
        nodepool=nodepool,
        name=LOCAL_NODE_NAME,
        defaults={
            "engine_url": settings.DOCKER_URL,
            "address": settings.SHARED_NODE_ADDRESS,
            "cpu_capacity": cpus,
            "memory_capacity_bytes": memory,
        },
    )
    return nodepool


def shared_nodepool() -> Nodepool:
    return (
        Nodepool.objects.filter(cluster__is_shared=True, slug=SHARED_ID)
        .select_related("cluster")
        .first()
        or ensure_shared_compute()
    )
