"""Who may scrape /metrics: this host's clients, others with the token, nobody when off."""

from __future__ import annotations

import pytest

from tests.metrics.support import samples, total

TOKEN = "a-long-metrics-token-for-tests"


@pytest.fixture
def local(client):
    def get(**extra):
        return client.get("/metrics", REMOTE_ADDR="127.0.0.1", **extra)

    return get


def test_this_hosts_clients_scrape_without_logging_in(db, local):
    response = local()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert "# TYPE orchestration_predict_requests_total counter" in text
    samples(text)  # parses as the Prometheus text format


def test_ipv6_loopback_is_this_host(db, client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_another_host_is_refused_without_a_token_set(db, client):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


def test_a_request_through_a_proxy_counts_as_another_host(db, local):
    assert local(HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert local(HTTP_FORWARDED="for=203.0.113.9").status_code == 403


def test_the_token_opens_metrics_to_other_hosts(db, client, settings):
    settings.METRICS_TOKEN = TOKEN
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200
    missing = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == "Bearer"
    wrong = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    # A wrong token is wrong from this host too: it is not silently ignored.
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer nope"
        ).status_code
        == 401
    )


def test_off_is_not_found_for_everyone(db, local, settings):
    settings.METRICS_ENABLED = False
    assert local().status_code == 404


def test_only_get(db, client):
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.parametrize("who", ["owner_client", "other_client", "visitor_client"])
def test_portal_users_get_the_same_answer_as_anyone_on_their_host(who, request):
    """Metrics are the install's, not a user's: a session neither opens nor hides them."""
    client = request.getfixturevalue(who)
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


def test_a_short_token_stops_start_up(monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("METRICS_TOKEN", "short")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "orchestration.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 16 characters" in result.stderr


def test_rate_limit_refusals_are_counted(db, owner, settings, local):
    from orchestration.accounts.models import AccessToken

    settings.API_RATE_LIMIT = 1
    settings.API_RATE_BURST = 1
    token = AccessToken.issue(owner, "tests")[1]
    before = total(
        samples(local().content.decode()), "orchestration_rate_limited_total", limit="api"
    )
    from django.test import Client

    api = Client()
    codes = [
        api.get("/api/v1/models", HTTP_AUTHORIZATION=f"Key {token}").status_code for _ in range(3)
    ]
    assert 429 in codes
    after = total(
        samples(local().content.decode()), "orchestration_rate_limited_total", limit="api"
    )
    assert after - before == codes.count(429)
