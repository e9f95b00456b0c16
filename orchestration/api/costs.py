"""What deployments cost: one deployment's figures, and the key owner's by nodepool.

The figures come from `orchestration.deployments.costs` (the pages and `orchestrate`
show the same); amounts are strings with 4 decimal places, in USD.
"""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from pydantic import Field

from orchestration.accounts.access import Perm
from orchestration.api.common import is_slug, owner, require, responses
from orchestration.api.errors import not_found
from orchestration.deployments.costs import (
    CURRENCY,
    ZERO,
    Cost,
    Windows,
    deployment_cost,
    summary_for,
)
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import Nodepool

router = Router(tags=["Costs"])

AMOUNT = 'USD as a decimal string with 4 places, such as "4.2000".'


class CostFigures(Schema):
    last_24_hours: str = Field(description=AMOUNT)
    this_month: str = Field(
        description=f"Since the 1st, midnight in the server's TIME_ZONE. {AMOUNT}"
    )
    total: str = Field(description=f"Since the deployment was created. {AMOUNT}")
    idle_last_24_hours: str = Field(
        description="The part of last_24_hours spent on replicas kept only by min_replicas "
        f"(the traffic wanted fewer). {AMOUNT}"
    )
    idle_this_month: str = Field(description=f"The idle part of this_month. {AMOUNT}")
    idle_total: str = Field(description=f"The idle part of total. {AMOUNT}")


class CostWindows(Schema):
    currency: str = Field(description='Always "USD".')
    as_of: datetime = Field(description="The moment the figures run up to.")
    month_start: datetime = Field(description="Where this_month begins.")


class DeploymentCostOut(CostWindows):
    deployment_id: str
    cluster_id: str
    nodepool_id: str
    cost: CostFigures


class NodepoolCostOut(Schema):
    cluster_id: str
    nodepool_id: str
    cost: CostFigures = Field(description="Your deployments on it (others' stay private).")


class CostSummaryOut(CostWindows):
    owner: CostFigures = Field(description="All your deployments.")
    nodepools: list[NodepoolCostOut]
    deployments: list[DeploymentCostOut] = Field(description="Each of your deployments.")


def figures(cost: Cost) -> dict:
    return {
        "last_24_hours": str(cost.day),
        "this_month": str(cost.month),
        "total": str(cost.total),
        "idle_last_24_hours": str(cost.idle_day),
        "idle_this_month": str(cost.idle_month),
        "idle_total": str(cost.idle_total),
    }


def _windows_out(windows: Windows) -> dict:
    return {"currency": CURRENCY, "as_of": windows.now, "month_start": windows.month_start}


def _deployment_out(deployment: Deployment, cost: Cost, windows: Windows) -> dict:
    return {
        **_windows_out(windows),
        "deployment_id": deployment.slug,
        "cluster_id": deployment.nodepool.cluster.slug,
        "nodepool_id": deployment.nodepool.slug,
        "cost": figures(cost),
    }


@router.get(
    "/deployments/{deployment_id}/cost/",
    response=responses({200: DeploymentCostOut}, 404),
    summary="What a deployment costs",
    description=(
        "Each replica is charged its nodepool's price per node-hour times its CPU request's "
        "share of its node, for as long as it lived; see the README's \"What a deployment "
        "costs\". Another user's deployment is a 404."
    ),
)
def deployment_cost_(request, deployment_id: str):
    require(request, Perm.BILLING)
    deployment = None
    if is_slug(deployment_id):
        deployment = (
            Deployment.objects.owned_by(owner(request))
            .select_related("nodepool__cluster")
            .filter(slug=deployment_id)
            .first()
        )
    if deployment is None:
        raise not_found("deployment", deployment_id)
    windows = Windows.at()
    return _deployment_out(deployment, deployment_cost(deployment, windows), windows)


@router.get(
    "/costs/",
    response=responses({200: CostSummaryOut}),
    summary="What your deployments cost, in all and per nodepool",
)
def cost_summary(request):
    require(request, Perm.BILLING)
    user = owner(request)
    summary = summary_for(user)
    windows = summary.windows
    deployments = list(
        Deployment.objects.owned_by(user).select_related("nodepool__cluster").order_by("slug")
    )
    pools = Nodepool.objects.filter(pk__in={d.nodepool_id for d in deployments}).select_related(
        "cluster"
    )
    return {
        **_windows_out(windows),
        "owner": figures(summary.owner),
        "nodepools": [
            {
                "cluster_id": pool.cluster.slug,
                "nodepool_id": pool.slug,
                "cost": figures(summary.nodepools.get(pool.pk, ZERO)),
            }
            for pool in sorted(pools, key=lambda p: (p.cluster.slug, p.slug))
        ],
        "deployments": [
            _deployment_out(d, summary.deployments.get(d.pk, ZERO), windows) for d in deployments
        ],
    }
