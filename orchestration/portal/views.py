"""Portal-wide pages: the dashboard and the health endpoint."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orchestration.catalog.models import Model
from orchestration.clusters.models import Cluster
from orchestration.deployments.models import Deployment, Replica, ReplicaState
from orchestration.nodepools.models import Nodepool


@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.space.account
    deployments = (
        Deployment.objects.owned_by(user)
        .select_related("model", "model_version", "nodepool__cluster")
        .with_ready_count()
    )
    ctx = {
        "counts": {
            "clusters": Cluster.objects.owned_by(user).count(),
            "nodepools": Nodepool.objects.owned_by(user).count(),
            "models": Model.objects.owned_by(user).count(),
            "deployments": deployments.count(),
            "ready_replicas": Replica.objects.filter(
                deployment__owner=user, state=ReplicaState.READY
            ).count(),
        },
        "recent": deployments.order_by("-updated_at")[:8],
    }
    return render(request, "portal/home.html", ctx)
