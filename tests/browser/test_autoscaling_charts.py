"""The what-if preview updating as settings are typed, and a deployment's charts, in Chromium."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from orchestration.deployments.models import (
    Replica,
    ReplicaState,
    ScalingDecision,
    TrafficSample,
)

from .conftest import SCREENSHOTS
from .test_deploy_flow import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _an_hour_of_autoscaling(deployment) -> None:
    """A quiet hour with one burst: traffic, the decisions it caused and the replicas."""
    now = timezone.now()

    def at(minutes_ago: float):
        return now - timedelta(minutes=minutes_ago)

    rows = []
    for k in range(12 * 60):
        minutes_ago = 60 - k * 5 / 60
        burst = 35 >= minutes_ago >= 20
        in_flight = (13.0 if burst else 1.5) + math.sin(k / 5) * (2.0 if burst else 0.6)
        rows.append(
            TrafficSample(
                deployment=deployment,
                at=at(minutes_ago),
                interval_seconds=5,
                requests=max(1, round(in_flight * 5)),
                in_flight=round(in_flight, 2),
            )
        )
    TrafficSample.objects.bulk_create(rows)
    for minutes_ago, wanted, applied, reason in [
        (90, 1, 1, "hold: 1 wanted and running"),
        (34.5, 4, 1, "hold: scale-up delay not reached (wanted 4 for 0 s of 300 s)"),
        (29.5, 4, 4, "scale up 1→4: wanted ≥4 for 300 s"),
        (19.5, 1, 4, "hold: scale-down delay not reached (wanted 1 for 0 s of 300 s)"),
        (14.5, 1, 1, "scale down 4→1: wanted ≤1 for 300 s"),
    ]:
        ScalingDecision.objects.create(
            deployment=deployment,
            at=at(minutes_ago),
            wanted=wanted,
            applied=applied,
            reason=reason,
        )
    version = deployment.model_version
    Replica.objects.create(
        deployment=deployment, model_version=version, state=ReplicaState.READY, ready_at=at(120)
    )
    for k in range(3):
        Replica.objects.create(
            deployment=deployment,
            model_version=version,
            state=ReplicaState.STOPPED,
            ready_at=at(29.5 - (12 + 4 * k) / 60),
            stopped_at=at(14.4),
        )


def test_what_if_preview_and_deployment_charts(
    page, shoot, make_model, make_cluster, make_nodepool, make_deployment
):
    user = get_user_model().objects.create_user("cy", "cy@example.com", "correct-horse-42")
    model, version = make_model(user, "sentiment", description="Text sentiment")
    make_model(user, "iris")
    cluster = make_cluster(user, "east")
    nodepool = make_nodepool(cluster, "cpu", price_per_hour=Decimal("0.42"))
    make_nodepool(cluster, "gpu", instance_type="g5.xlarge", price_per_hour=Decimal("1.006"))
    deployment = make_deployment(
        user, model, version, nodepool, "sent-east", description="Sentiment for the east coast"
    )
    _an_hour_of_autoscaling(deployment)
    _log_in(page, "cy", "correct-horse-42")

    # The deploy form: a model without traffic replays an example hour.
    page.goto("/deployments/new/?model=iris&cluster=east&nodepool=gpu")
    expect(page.get_by_role("heading", name="Deploy a model")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview).to_be_hidden()
    page.get_by_text("Advanced settings").click()
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("iris had no traffic in the last hour")
    expect(page.get_by_label("Traffic shape")).to_have_value("spike")
    expect(preview).to_contain_text("scale up delay 300 s")
    expect(preview).to_contain_text("for this hour")

    # Typing a setting updates the preview (debounced), without leaving the page.
    before = preview.locator("dl.preview-stats").inner_text()
    with page.expect_request(lambda r: "/deployments/new/preview/" in r.url) as request:
        page.get_by_label("Scale up delay").fill("30")
    url = request.value.url
    assert "scale_up_delay_seconds=30" in url and "model=iris" in url and "nodepool=gpu" in url
    assert "csrfmiddlewaretoken" not in url, "the CSRF token stays out of URLs and logs"
    expect(preview).to_contain_text("scale up delay 30 s")
    after = preview.locator("dl.preview-stats").inner_text()
    assert after != before, "a shorter scale up delay runs more replicas"
    page.get_by_label("Traffic shape").select_option("bursty")
    expect(page.get_by_label("Traffic shape")).to_have_value("bursty")
    expect(preview).to_contain_text("scale up delay 30 s")
    page.get_by_label("Traffic shape").select_option("spike")
    expect(page.get_by_label("Traffic shape")).to_have_value("spike")
    page.locator("section.whatif").screenshot(path=str(SCREENSHOTS / "whatif-preview.png"))
    shoot(page, "deploy-form-preview")

    # Choosing the model with traffic replays its real hour.
    page.get_by_label("Model", exact=True).select_option("sentiment")
    expect(preview).to_contain_text("Replaying the last hour of real traffic to sentiment")
    expect(page.get_by_label("Traffic shape")).to_have_count(0)
    page.get_by_label("Minimum replicas").fill("0")
    expect(preview).to_contain_text("0–5 replicas")
    page.locator("section.whatif").screenshot(path=str(SCREENSHOTS / "whatif-preview-real.png"))

    # A bad value: a message instead of a chart.
    page.get_by_label("Minimum replicas").fill("9")
    expect(preview).to_contain_text("No preview for these values.")
    expect(preview).to_contain_text("Minimum replicas cannot be more than maximum replicas.")
    expect(preview.locator("svg")).to_have_count(0)
    page.locator("section.whatif").screenshot(path=str(SCREENSHOTS / "whatif-preview-error.png"))

    # The deployment page: traffic and replica charts that refresh themselves.
    page.goto(deployment.get_absolute_url())
    charts = page.locator("#charts")
    expect(charts).to_have_attribute("hx-trigger", "every 10s")
    expect(charts.locator("svg")).to_have_count(3)
    for name in ("Requests/s", "In-flight", "Wanted", "Target", "Ready"):
        expect(charts.locator("svg text", has_text=name).first).to_be_visible()
    expect(charts.locator("svg g.chart-marker")).to_have_count(2)
    page.locator("#charts-section").screenshot(path=str(SCREENSHOTS / "deployment-charts.png"))
    # The refresh swaps the charts in place.
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "charts"):
        charts.get_by_role("link", name="Refresh").click()
    expect(page.locator("#charts svg")).to_have_count(3)
    shoot(page, "deployment-with-charts")

    # The edit form previews the deployment's own traffic.
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.locator("#preview")).to_contain_text("real traffic to sentiment")
    expect(page.locator("#preview")).to_contain_text("$")
    page.get_by_label("Scale down delay").fill("60")
    expect(page.locator("#preview")).to_contain_text("scale down delay 60 s")
    page.locator("section.whatif").screenshot(path=str(SCREENSHOTS / "whatif-preview-edit.png"))
