"""The deployments list's ?sort= keys: only these reach the database (others fall back)."""

from __future__ import annotations

from django.db.models import QuerySet

from orchestration.deployments.costs import Windows, with_month_cost
from orchestration.deployments.models import Deployment

# The URL's key -> ORDER BY; ties break on the id so pages stay stable between requests.
LIST_SORTS: dict[str, tuple[str, ...]] = {
    "deployment": ("slug",),
    "-deployment": ("-slug",),
    "cost": ("cost_month", "slug"),
    "-cost": ("-cost_month", "slug"),
}
DEFAULT_LIST_SORT = "deployment"


def sorted_listing(
    deployments: QuerySet[Deployment], sort: str | None, windows: Windows | None = None
) -> tuple[QuerySet[Deployment], str]:
    """``deployments`` with this month's cost (``cost_month``), in the asked order."""
    if sort not in LIST_SORTS:
        sort = DEFAULT_LIST_SORT
    return with_month_cost(deployments, windows).order_by(*LIST_SORTS[sort]), sort
