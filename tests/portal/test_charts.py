"""The deployment page's autoscaling charts and the deploy/edit forms' what-if preview."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from orchestration.deployments import history
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Replica,
    ReplicaState,
    ScalingDecision,
    TrafficSample,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)  # on a 5 s bucket boundary
T = NOW.timestamp()
START = T - 3600
PREVIEW = reverse("deployments:preview")


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def svgs(html: str) -> list[ET.Element]:
    found = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    return [ET.fromstring(svg) for svg in found]  # noqa: S314 - our own output


def svg_texts(html: str) -> set[str]:
    return {
        "".join(t.itertext())
        for root in svgs(html)
        for t in root.iter("{http://www.w3.org/2000/svg}text")
    }


@pytest.fixture
def deployment(owner, world, make_deployment):
    return make_deployment(
        owner, world.model, world.version, world.nodepool, "dep", min_replicas=1, max_replicas=4
    )


def traffic(deployment, seconds_ago, *, requests, in_flight, interval=5.0):
    return TrafficSample.objects.create(
        deployment=deployment,
        at=ago(seconds_ago),
        interval_seconds=interval,
        requests=requests,
        in_flight=in_flight,
    )


def decision(deployment, seconds_ago, wanted, applied, reason):
    return ScalingDecision.objects.create(
        deployment=deployment, at=ago(seconds_ago), wanted=wanted, applied=applied, reason=reason
    )


def replica(deployment, state, ready_ago=None, stopped_ago=None):
    return Replica.objects.create(
        deployment=deployment,
        model_version=deployment.model_version,
        state=state,
        ready_at=ago(ready_ago) if ready_ago is not None else None,
        stopped_at=ago(stopped_ago) if stopped_ago is not None else None,
    )


# -- the history module -----------------------------------------------------------------------


def test_traffic_history_sums_rows_per_bucket(owner, world, deployment, make_deployment):
    # Two web processes in the bucket ending 100 s ago (one row exactly on its end).
    traffic(deployment, 100, requests=10, in_flight=2.0)
    traffic(deployment, 101, requests=5, in_flight=1.0)
    # One process flushing twice in the bucket ending 90 s ago: 2.5 s intervals weigh half.
    traffic(deployment, 93, requests=5, in_flight=4.0, interval=2.5)
    traffic(deployment, 91, requests=5, in_flight=4.0, interval=2.5)
    # Outside the hour, and another deployment's traffic: not counted.
    traffic(deployment, 4000, requests=99, in_flight=9.0)
    west = make_deployment(
        owner, world.model, world.version, make_nodepool_for(world, "west"), "other-dep"
    )
    traffic(west, 100, requests=50, in_flight=7.0)

    result = history.traffic_history(deployment, end=T)

    assert result.has_traffic and result.rows == 4
    assert len(result.buckets) == 720
    assert result.buckets[0].at == START + 5 and result.buckets[-1].at == T
    by_end = {b.at - T: b for b in result.buckets}
    assert (by_end[-100].requests, by_end[-100].requests_per_second, by_end[-100].in_flight) == (
        15,
        3.0,
        3.0,
    )
    assert (by_end[-90].requests, by_end[-90].requests_per_second, by_end[-90].in_flight) == (
        10,
        2.0,
        4.0,
    )
    assert by_end[-95].requests_per_second == 0 and by_end[-95].in_flight == 0
    assert result.total_requests == 25
    # Flat zero runs collapse to their ends; the values stay exact.
    assert result.requests_per_second() == [
        (START + 5, 0.0),
        (T - 105, 0.0),
        (T - 100, 3.0),
        (T - 95, 0.0),
        (T - 90, 2.0),
        (T - 85, 0.0),
        (T, 0.0),
    ]
    assert result.in_flight() == [
        (START + 5, 0.0),
        (T - 105, 0.0),
        (T - 100, 3.0),
        (T - 95, 0.0),
        (T - 90, 4.0),
        (T - 85, 0.0),
        (T, 0.0),
    ]
    samples = result.policy_samples()
    assert len(samples) == 720 and samples[-11].at == T - 50


def make_nodepool_for(world, slug):
    from orchestration.nodepools.models import Nodepool

    return Nodepool.objects.create(cluster=world.cluster, slug=slug, price_per_hour=Decimal("1"))


def test_replica_history_wanted_steps_and_ready_counts(deployment):
    decision(deployment, 4000, 1, 1, "hold: 1 wanted and running")  # before the hour
    decision(deployment, 1800, 3, 1, "hold: scale-up delay not reached")
    decision(deployment, 1500, 3, 3, "scale up 1→3: wanted ≥3 for 300 s")
    decision(deployment, 600, 2, 3, "hold: scale-down delay not reached")
    decision(deployment, 300, 2, 2, "scale down 3→2: wanted ≤2 for 300 s")
    decision(deployment, -60, 5, 5, "in the future: not shown")

    replica(deployment, ReplicaState.READY, ready_ago=5000)  # ready all hour
    replica(deployment, ReplicaState.STOPPED, ready_ago=1450, stopped_ago=290)
    replica(deployment, ReplicaState.READY, ready_ago=1440)
    replica(deployment, ReplicaState.FAILED, ready_ago=1430, stopped_ago=1200)  # failed later
    replica(deployment, ReplicaState.FAILED, stopped_ago=1000)  # never ready
    replica(deployment, ReplicaState.STOPPED, ready_ago=7200, stopped_ago=3700)  # before
    replica(deployment, ReplicaState.STARTING)  # not ready yet

    result = history.replica_history(deployment, end=T)

    assert result.wanted == [(START, 1.0), (T - 1800, 3.0), (T - 600, 2.0)]
    assert result.target == [(START, 1.0), (T - 1500, 3.0), (T - 300, 2.0)]
    assert list(result.ready) == [
        (START, 1.0),
        (T - 1450, 2.0),
        (T - 1440, 3.0),
        (T - 1430, 4.0),
        (T - 1200, 3.0),
        (T - 290, 2.0),
    ]
    assert [(m.x, m.label) for m in result.markers] == [
        (T - 1500, "scale up 1→3: wanted ≥3 for 300 s"),
        (T - 300, "scale down 3→2: wanted ≤2 for 300 s"),
    ]


def test_ready_steps_boundaries():
    # Ready at t counts at t; stopped at t no longer counts at t.
    assert history.ready_steps([(10.0, 20.0), (20.0, None)], start=0.0, end=30.0) == [
        (0.0, 0.0),
        (10.0, 1.0),
    ]
    assert history.ready_steps([(10.0, 20.0), (15.0, 18.0)], start=0.0, end=30.0) == [
        (0.0, 0.0),
        (10.0, 1.0),
        (15.0, 2.0),
        (18.0, 1.0),
        (20.0, 0.0),
    ]
    assert history.ready_steps([(-5.0, 0.0), (-5.0, 40.0)], start=0.0, end=30.0) == [(0.0, 1.0)]


def test_charts_use_a_fixed_number_of_queries(deployment, django_assert_num_queries):
    for k in range(50):
        traffic(deployment, 5 * k + 1, requests=k, in_flight=k / 10)
        decision(deployment, 30 * k + 2, k % 3 + 1, k % 2 + 1, "x")
        replica(deployment, ReplicaState.STOPPED, ready_ago=30 * k + 20, stopped_ago=30 * k + 3)
    with django_assert_num_queries(4):
        charts = history.deployment_charts(deployment, now=NOW)
    assert charts.traffic.rows == 50


# -- the charts on the deployment page ----------------------------------------------------------


def _busy(deployment):
    now = datetime.now(UTC)
    for k, (requests, flight) in enumerate([(20, 3.0), (40, 6.0), (10, 1.5)]):
        TrafficSample.objects.create(
            deployment=deployment,
            at=now - timedelta(seconds=60 - 5 * k),
            interval_seconds=5,
            requests=requests,
            in_flight=flight,
        )
    ScalingDecision.objects.create(
        deployment=deployment, at=now - timedelta(minutes=80), wanted=1, applied=1, reason="start"
    )
    ScalingDecision.objects.create(
        deployment=deployment,
        at=now - timedelta(minutes=10),
        wanted=2,
        applied=2,
        reason="scale up 1→2: <wanted> for 300 s",
    )
    Replica.objects.create(
        deployment=deployment,
        model_version=deployment.model_version,
        state=ReplicaState.READY,
        ready_at=now - timedelta(minutes=9),
    )


def test_deployment_page_includes_the_charts(owner_client, deployment):
    _busy(deployment)
    body = owner_client.get(deployment.get_absolute_url()).content.decode()
    section = body[body.index('id="charts-section"') :]
    assert '<div id="charts" class="charts" hx-get="/deployments/dep/"' in section
    assert 'hx-trigger="every 10s"' in section
    # A real link refreshes without JavaScript.
    assert 'href="/deployments/dep/#charts-section"' in section
    assert len(svgs(section)) == 3
    texts = svg_texts(body)
    for label in ("Requests/s", "In-flight", "Wanted", "Target", "Ready", "now", "-30 min"):
        assert label in texts, label
    assert {"Requests (req/s)", "In flight (requests)", "Count (replicas)"} <= texts
    assert "min–max (1–4)" in texts
    # The decision that changed the count is marked, its reason escaped.
    assert "<title>scale up 1→2: &lt;wanted&gt; for 300 s</title>" in body
    assert "70 requests" in body and "No traffic yet" not in body


def test_charts_fragment_refreshes_itself(owner_client, deployment):
    _busy(deployment)
    response = owner_client.get(deployment.get_absolute_url(), HTTP_HX_TARGET="charts", **HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="charts"')
    assert "<html" not in text and "Event log" not in text and 'id="live"' not in text
    assert 'hx-get="/deployments/dep/" hx-trigger="every 10s" hx-target="this"' in text
    assert {"Requests/s", "In-flight", "Wanted", "Target", "Ready"} <= svg_texts(text)
    # The live replicas poll still gets its own fragment, without the charts.
    live = owner_client.get(deployment.get_absolute_url(), HTTP_HX_TARGET="live", **HTMX)
    assert 'id="charts"' not in live.content.decode()


def test_charts_empty_state(owner_client, deployment):
    body = owner_client.get(deployment.get_absolute_url()).content.decode()
    assert "No traffic yet" in svg_texts(body)
    assert "No traffic yet: requests to this deployment appear here" in body


def test_other_user_and_visitor_get_no_charts(other_client, visitor_client, deployment):
    _busy(deployment)
    url = deployment.get_absolute_url()
    assert other_client.get(url).status_code == 404
    fragment = other_client.get(url, HTTP_HX_TARGET="charts", **HTMX)
    assert fragment.status_code == 404
    assert "<svg" not in fragment.content.decode()
    response = visitor_client.get(url, HTTP_HX_TARGET="charts", **HTMX)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_charts_poll_after_deletion_leaves_the_page(owner_client, deployment):
    url = deployment.get_absolute_url()
    deployment.delete()
    response = owner_client.get(url, HTTP_HX_TARGET="charts", **HTMX)
    assert response.status_code == 404
    assert response["HX-Redirect"] == reverse("deployments:list")


# -- the what-if preview ------------------------------------------------------------------------


def settings_params(**overrides) -> dict[str, str]:
    params = {name: str(value) for name, value in AUTOSCALE_DEFAULTS.items()}
    params.update({k: str(v) for k, v in overrides.items()})
    return params


def preview(client, **params):
    return client.get(PREVIEW, params, HTTP_HX_TARGET="preview", **HTMX)


def _busy_hour(deployment):
    """Half an hour of steady traffic, 12 in flight, ending 5 minutes ago."""
    now = datetime.now(UTC)
    TrafficSample.objects.bulk_create(
        TrafficSample(
            deployment=deployment,
            at=now - timedelta(seconds=300 + 5 * k),
            interval_seconds=5,
            requests=60,
            in_flight=12.0,
        )
        for k in range(360)
    )


def test_preview_replays_the_models_real_traffic(owner_client, world, deployment):
    _busy_hour(deployment)
    response = preview(owner_client, model="sentiment", cluster="east", nodepool="cpu")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="preview"') and "<html" not in text
    assert "Replaying the last hour of real traffic to <strong>sentiment</strong>" in text
    assert "Traffic shape" not in text
    texts = svg_texts(text)
    assert {"In-flight", "Wanted", "Replicas", "now", "min–max (1–5)"} <= texts
    assert "Cold starts" in text and "Replica-hours" in text


def test_preview_without_traffic_uses_the_chosen_shape(owner_client, world):
    text = preview(owner_client, model="sentiment").content.decode()
    assert "sentiment had no traffic in the last hour" in text
    assert '<label for="id_traffic_shape">Traffic shape</label>' in text
    assert '<option value="spike" selected>' in text
    spike = svg_texts(text)
    assert "minutes into the example hour" in spike
    steady = preview(owner_client, model="sentiment", traffic_shape="steady").content.decode()
    assert '<option value="steady" selected>' in steady
    assert steady != text
    odd = preview(owner_client, traffic_shape="<nope>").content.decode()
    assert '<option value="spike" selected>' in odd and "<nope>" not in odd


def test_settings_change_the_preview(owner_client, world):
    def stats(**params):
        text = preview(owner_client, **settings_params(**params)).content.decode()
        return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", text))

    slow = stats(scale_up_delay_seconds=600)
    fast = stats(scale_up_delay_seconds=0)
    assert float(fast["Replica-hours"]) > float(slow["Replica-hours"])
    assert int(fast["Peak replicas"]) > int(slow["Peak replicas"])
    # Scale to zero: the idle-then-burst hour cold-starts once.
    zero = stats(
        min_replicas=0,
        scale_down_delay_seconds=60,
        scale_to_zero_delay_seconds=60,
        traffic_shape="idle-then-burst",
    )
    assert zero["Cold starts"] == "1"


def test_preview_cost_uses_the_nodepool_price(owner_client, world):
    world.nodepool.price_per_hour = Decimal("2.5")
    world.nodepool.save()
    params = settings_params(min_replicas=2, max_replicas=2, traffic_shape="steady")
    text = preview(owner_client, cluster="east", nodepool="cpu", **params).content.decode()
    # Two replicas all hour (720 steps of 5 s) at $2.50 per replica-hour.
    assert "<dt>Replica-hours</dt><dd>2.00</dd>" in text
    assert '<dt>Cost</dt><dd>$5.00 <span class="per">for this hour</span></dd>' in text
    assert "east/cpu at $2.5000 per replica-hour" in text
    no_pool = preview(owner_client, **params).content.decode()
    assert "<dt>Cost</dt><dd>price not set</dd>" in no_pool


@pytest.mark.parametrize(
    "params, message",
    [
        ({"min_replicas": "3", "max_replicas": "2"}, "Minimum replicas cannot be more than"),
        ({"scale_up_delay_seconds": "-5"}, "Scale up delay: Delays cannot be negative"),
        ({"scale_up_delay_seconds": "9" * 5000}, "Scale up delay: Enter a whole number."),
        ({"max_replicas": "100000"}, "Maximum replicas: Ensure this value is less than"),
        ({"traffic_history_seconds": "abc"}, "Scaling timeframe: Enter a whole number."),
        ({"target_concurrency": "0"}, "Target concurrency must be at least 1."),
        ({"min_replicas": "1e3"}, "Minimum replicas: Enter a whole number."),
        (
            {"scale_down_delay_seconds": "600", "scale_to_zero_delay_seconds": "60"},
            "Scale to zero delay must be at least the scale down delay.",
        ),
    ],
)
def test_preview_with_bad_values_shows_a_message(owner_client, world, params, message):
    response = preview(owner_client, **params)
    assert response.status_code == 200
    text = response.content.decode()
    assert "No preview for these values." in text and message in text
    assert "<svg" not in text and "Traceback" not in text


def test_preview_missing_values_take_the_defaults(owner_client, world):
    text = preview(owner_client, min_replicas="", max_replicas="  3 ").content.decode()
    assert "1–3 replicas · scale up delay 300 s" in text and "<svg" in text


def test_preview_ignores_other_users_models_and_nodepools(other_client, owner, world, deployment):
    _busy_hour(deployment)
    world.nodepool.price_per_hour = Decimal("2.5")
    world.nodepool.save()
    response = preview(
        other_client, model="sentiment", cluster="east", nodepool="cpu", deployment="dep"
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "real traffic" not in text and "sentiment" not in text
    assert "Choose a model to replay its last hour of traffic" in text
    assert "price not set" in text


def test_preview_on_the_shared_nodepool(owner_client, world, shared_nodepool):
    shared_nodepool.price_per_hour = Decimal("0.1")
    shared_nodepool.save()
    text = preview(
        owner_client, cluster="shared", nodepool="shared", **settings_params()
    ).content.decode()
    assert "shared/shared at $0.1000 per replica-hour" in text


def test_visitor_is_sent_to_login_from_the_preview(visitor_client):
    response = visitor_client.get(PREVIEW, {"model": "sentiment"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_deploy_form_has_the_preview_in_advanced_settings(owner_client, world):
    body = owner_client.get(
        reverse("deployments:create"), {"model": "sentiment", "cluster": "east"}
    ).content.decode()
    advanced = body[body.index("<summary>Advanced settings</summary>") : body.index("</details>")]
    assert 'hx-get="/deployments/new/preview/"' in advanced
    assert 'hx-include="closest form"' in advanced and 'hx-target="#preview"' in advanced
    assert "change from:closest form" in advanced
    assert '<div id="preview"' in advanced and "<svg" in advanced
    assert "sentiment had no traffic in the last hour" in advanced
    # The nodepool chosen for the only nodepool of the cluster gives the price.
    assert "east/cpu at $0.0832 per replica-hour" in advanced
    # A no-JS submit of the preview button renders it as a page.
    page = owner_client.get(PREVIEW, {"model": "sentiment", **settings_params()})
    assert "<h1>What-if preview</h1>" in page.content.decode()


def test_deploy_form_with_errors_previews_the_posted_values(owner_client, world):
    data = {
        "slug": "x",
        "model": "sentiment",
        "model_version": world.version.version_id,
        "cluster": "east",
        "nodepool": "cpu",
        **settings_params(min_replicas=4, max_replicas=2),
    }
    body = owner_client.post(reverse("deployments:create"), data).content.decode()
    assert '<details class="advanced card" open>' in body
    assert "No preview for these values." in body


def test_edit_form_previews_the_deployments_traffic(owner_client, deployment):
    _busy_hour(deployment)
    body = owner_client.get(reverse("deployments:edit", args=["dep"])).content.decode()
    assert """hx-vals='{"deployment": "dep"}'""" in body
    assert "Replaying the last hour of real traffic to <strong>sentiment</strong>" in body
    text = preview(
        owner_client, deployment="dep", **settings_params(scale_up_delay_seconds=30)
    ).content.decode()
    assert "real traffic" in text and "scale up delay 30 s" in text
    assert "east/cpu at $0.0832 per replica-hour" in text
