"""Cost in the management API: one deployment's figures and the key owner's summary."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from tests.costs.conftest import hours, make_replica


def test_deployment_cost(owner_api, priced):
    now = timezone.now()
    make_replica(priced["deployment"], priced["node"], started=now - hours(2), stopped=now)
    response = owner_api.get("deployments/sent/cost/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["deployment_id"] == "sent" and body["currency"] == "USD"
    assert (body["cluster_id"], body["nodepool_id"]) == ("east", "cpu")
    cost = body["cost"]
    assert cost["last_24_hours"] == cost["total"] == "1.0000"
    assert Decimal(cost["idle_total"]) == 0


def test_summary_per_owner_and_nodepool(owner_api, other_api, priced):
    now = timezone.now()
    make_replica(priced["deployment"], priced["node"], started=now - hours(6), stopped=now)
    body = owner_api.get("costs/").json()
    assert body["owner"]["total"] == "3.0000"
    assert body["nodepools"] == [
        {"cluster_id": "east", "nodepool_id": "cpu", "cost": body["owner"]}
    ]
    assert [d["deployment_id"] for d in body["deployments"]] == ["sent"]
    theirs = other_api.get("costs/").json()
    assert theirs["owner"]["total"] == "0.0000" and theirs["deployments"] == []


def test_other_users_and_visitors(other_api, anon_api, priced):
    response = other_api.get("deployments/sent/cost/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No deployment with id 'sent'."
    assert anon_api.get("deployments/sent/cost/").status_code == 401
    assert anon_api.get("costs/").status_code == 401


def test_bad_ids_are_404_not_500(owner_api, priced):
    for bad in ("NOT_A_SLUG", "x" * 300, "%00"):
        assert owner_api.get(f"deployments/{bad}/cost/").status_code == 404
