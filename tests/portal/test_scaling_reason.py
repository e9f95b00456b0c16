"""The "why this many replicas" line: from recorded traffic and decisions, page and API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.deployments.models import ScalingDecision, TrafficSample
from orchestration.deployments.scaling_reason import scaling_reason
from tests.api.support import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(owner, make_cluster, make_nodepool, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "sentiment")
    dep = make_deployment(
        owner,
        model,
        version,
        pool,
        slug="sent",
        min_replicas=1,
        max_replicas=5,
        desired_replicas=1,
        traffic_history_seconds=60,
        scale_up_delay_seconds=60,
        target_concurrency=4,
    )
    # Created long ago, so the whole scaling timeframe is the deployment's.
    type(dep).objects.filter(pk=dep.pk).update(created_at=timezone.now() - timedelta(hours=1))
    dep.refresh_from_db()
    return dep


def _busy(deployment, now, in_flight: float, seconds: int = 90) -> None:
    """One web process's samples, a second apart, at this many requests in flight."""
    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment=deployment,
            at=now - timedelta(seconds=s),
            interval_seconds=1.0,
            requests=int(in_flight * 10),
            in_flight=in_flight,
        )
        for s in range(seconds)
    )


def test_a_scale_up_held_by_its_delay_says_how_long_it_still_waits(deployment):
    now = timezone.now()
    _busy(deployment, now, 11.2)
    # The autoscaler first wanted 3 twenty seconds ago.
    ScalingDecision.objects.create(
        deployment=deployment, at=now - timedelta(seconds=20), wanted=3, applied=1, reason="hold"
    )
    reason = scaling_reason(deployment, now=now)
    assert reason.kind == "hold_up_delay"
    assert reason.wanted == 3
    # The newest bucket is still filling (the tick reads it the same way).
    assert 9.0 < reason.average_in_flight <= 11.2
    assert reason.text.startswith(f"wants 3: average {reason.average_in_flight:.1f} in flight")
    assert reason.text.endswith("scale-up waits 40 s more of its 60 s delay")


def test_a_quiet_deployment_at_its_minimum(deployment):
    reason = scaling_reason(deployment)
    assert reason.kind == "hold"
    assert reason.text == (
        "wants 1: average 0.0 in flight over 60 s / target 4, raised to the minimum 1; "
        "1 running, as wanted"
    )


def test_the_page_and_the_api_show_the_same_line(deployment, owner_client, owner):
    from orchestration.accounts.models import AccessToken

    now = timezone.now()
    _busy(deployment, now, 11.2)
    ScalingDecision.objects.create(
        deployment=deployment, at=now - timedelta(seconds=20), wanted=3, applied=1, reason="hold"
    )
    page = owner_client.get("/deployments/sent/").content.decode()
    assert 'id="scaling-reason"' in page
    assert "Why 1 replica:" in page
    assert "scale-up waits" in page
    charts = owner_client.get(
        "/deployments/sent/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="charts"
    ).content.decode()
    assert "scale-up waits" in charts

    api = ApiClient(AccessToken.issue(owner, "tests")[1])
    body = api.get("deployments/sent/scaling/").json()
    assert body["decision"] == "hold_up_delay"
    assert body["wanted_replicas"] == 3
    assert body["desired_replicas"] == 1
    assert 35 <= body["acts_in_seconds"] <= 40
    assert body["explanation"].startswith("wants 3: average ")


def test_other_users_and_visitors_see_nothing(deployment, other_client, visitor_client):
    assert other_client.get("/deployments/sent/").status_code == 404
    response = visitor_client.get("/deployments/sent/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
