"""Cost on the portal: the deployment page, the list's sortable column, the nodepool page."""

from __future__ import annotations

import re

from django.utils import timezone

from orchestration.deployments.costs import deployment_cost, format_money, idle_line
from orchestration.deployments.models import MinReplicaHold
from tests.costs.conftest import hours, make_replica


def _spent(priced, now):
    """sent: 4 h at 0.50/h (2.00), 3 of them held by the minimum (1.50); cheap: 0.50."""
    d, node = priced["deployment"], priced["node"]
    make_replica(d, node, started=now - hours(4), stopped=now - hours(0.001))
    MinReplicaHold.objects.create(deployment=d, at=now - hours(4), replicas=1)
    MinReplicaHold.objects.create(deployment=d, at=now - hours(1), replicas=0)


def test_deployment_page_shows_the_cost_card(owner_client, priced):
    _spent(priced, timezone.now())
    page = owner_client.get("/deployments/sent/").content.decode()
    card = page[page.index('id="cost"') :]
    card = card[: card.index("</section>")]
    assert '<span class="num">2.00 USD</span> last 24 hours' in card
    assert '<span class="num">2.00 USD</span> in all' in card
    # The month may have begun within these 4 hours: its figures are the function's.
    cost = deployment_cost(priced["deployment"])
    assert f'<span class="num">{format_money(cost.month)}</span> this month' in card
    assert idle_line(cost) in card
    if cost.month == cost.total:
        assert "1.50 USD of 2.00 USD this month was idle time at min replicas" in card


def test_another_users_deployment_cost_is_a_404(other_client, visitor_client, priced):
    assert other_client.get("/deployments/sent/").status_code == 404
    response = visitor_client.get("/deployments/sent/")
    assert response.status_code == 302 and "/login" in response["Location"]


def _order(client, query=""):
    response = client.get(f"/deployments/{query}")
    assert response.status_code == 200
    return re.findall(r'<td><a href="/deployments/([\w-]+)/">', response.content.decode())


def test_list_sorts_by_month_cost_both_ways(
    owner_client, owner, priced, make_model, make_deployment
):
    now = timezone.now()
    model, version = make_model(owner, "zzz")
    cheap = make_deployment(owner, model, version, priced["nodepool"], "a-cheap")
    _spent(priced, now)
    make_replica(cheap, priced["node"], started=now - hours(1), stopped=now)
    model, version = make_model(owner, "free")
    make_deployment(owner, model, version, priced["nodepool"], "m-free")
    assert _order(owner_client, "?sort=cost") == ["m-free", "a-cheap", "sent"]
    assert _order(owner_client, "?sort=-cost") == ["sent", "a-cheap", "m-free"]
    # Unknown keys (and SQL) fall back to the id order.
    for bad in ("?sort=owner__password", "?sort=-cost_month;drop", "?sort="):
        assert _order(owner_client, bad) == ["a-cheap", "m-free", "sent"]
    page = owner_client.get("/deployments/?sort=-cost").content.decode()
    assert 'aria-sort="descending"' in page and "2.00 USD" in page and "0.50 USD" in page


def test_list_sort_header_swaps_only_the_table(owner_client, priced):
    response = owner_client.get(
        "/deployments/?sort=cost", headers={"HX-Request": "true", "HX-Target": "deployment-list"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="deployment-list">')
    assert "<html" not in body


def test_nodepool_page_shows_each_deployment_and_the_total(
    owner_client, priced, other_user, make_model, make_deployment
):
    now = timezone.now()
    _spent(priced, now)
    # Another user's deployment on it stays private, cost included.
    model, version = make_model(other_user, "theirs")
    theirs = make_deployment(other_user, model, version, priced["nodepool"], "theirs")
    make_replica(theirs, priced["node"], started=now - hours(10), stopped=now)
    page = owner_client.get("/compute/east/cpu/").content.decode()
    section = page[page.index('id="deployed-models"') :]
    section = section[: section.index("</section>")]
    assert "theirs" not in section
    total = section[section.index('id="nodepool-cost"') :]
    assert total.count("2.00 USD") >= 2  # 24 hours and total (the month may be younger)
