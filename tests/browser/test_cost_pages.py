"""Cost in the browser: the deployment page's card, and the list sorted by month cost
through its header (htmx swaps the table)."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from orchestration.deployments.models import MinReplicaHold
from tests.browser.test_deploy_flow import _log_in
from tests.costs.conftest import hours, make_replica


def test_cost_card_and_sortable_column(
    page, shoot, make_cluster, make_nodepool, make_node, make_model, make_deployment
):
    user = get_user_model().objects.create_user("cy", "cy@example.com", "correct-horse-42")
    cluster = make_cluster(user, "east")
    pool = make_nodepool(cluster, "cpu", cpu_cores=Decimal("2"), price_per_hour=Decimal("1.00"))
    node = make_node(pool, "node-1")
    now = timezone.now()
    spent = {}
    for slug, run_hours in (("alpha", 1), ("beta", 6), ("gamma", 3)):
        model, version = make_model(user, f"m-{slug}")
        spent[slug] = make_deployment(user, model, version, pool, slug, min_replicas=1)
        make_replica(spent[slug], node, started=now - hours(run_hours))
    MinReplicaHold.objects.create(deployment=spent["beta"], at=now - hours(6), replicas=1)
    MinReplicaHold.objects.create(deployment=spent["beta"], at=now - hours(2), replicas=0)
    _log_in(page, "cy", "correct-horse-42")

    page.goto("/deployments/")
    rows = page.locator("#deployment-list tbody tr td:first-child a")
    expect(rows).to_have_text(["alpha", "beta", "gamma"])
    page.get_by_role("link", name="Cost (month)").click()
    expect(rows).to_have_text(["alpha", "gamma", "beta"])
    page.get_by_role("link", name="Cost (month)").click()
    expect(rows).to_have_text(["beta", "gamma", "alpha"])
    assert page.url.endswith("?sort=-cost")
    shoot(page, "deployments-by-cost")

    page.goto("/deployments/beta/")
    card = page.locator("#cost")
    expect(card).to_contain_text("3.00 USD")
    expect(card).to_contain_text("idle time at min replicas")
    shoot(page, "deployment-cost")
