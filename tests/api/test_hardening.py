"""The management API: deeply nested JSON and NaN/Infinity are 400s naming the problem;
a key over its rate limit is 429 with Retry-After, in the API's JSON error shape."""

from __future__ import annotations

import pytest

from orchestration import ratelimit

DEEP = 1000


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[" * DEEP + "]" * DEEP, "nested too deeply"),
        ('{"id": "east", "description": ' + "[" * DEEP + "]" * DEEP + "}", "nested too deeply"),
        ('{"id": "east", "description": ' + "[" * DEEP, "nested too deeply"),
        ('{"id": "east", "cloud_provider": "aws", "region": NaN}', "NaN"),
        ('{"id": "east", "cloud_provider": "aws", "region": -Infinity}', "Infinity"),
        ('{"id": "east", "cloud_provider": "aws", "region": 1e400}', "out of range"),
    ],
)
def test_hostile_json_is_400_naming_the_problem(owner_api, body, words):
    response = owner_api.client.post(
        "/api/v1/clusters/", data=body, content_type="application/json", headers=owner_api.headers
    )
    assert response.status_code == 400, response.content[:300]
    error = response.json()
    assert words in error["detail"], error
    assert error["errors"][0]["field"] is None


def test_a_key_over_its_rate_limit_is_429_with_retry_after(
    owner_api, other_api, owner_client, settings
):
    settings.API_RATE_LIMIT = 1.0
    settings.API_RATE_BURST = 3
    for _ in range(3):
        assert owner_api.get("clusters/").status_code == 200
    refused = owner_api.get("clusters/")
    assert refused.status_code == 429, refused.content
    assert int(refused["Retry-After"]) >= 1
    body = refused.json()
    assert "Too many requests" in body["detail"] and body["errors"][0]["field"] is None
    # Per key: another key, and a browser session, have their own buckets.
    assert other_api.get("clusters/").status_code == 200
    assert owner_client.get("/api/v1/clusters/").status_code == 200
    # The schema says so.
    schema = owner_api.get("openapi.json").json()
    assert "429" in schema["paths"]["/api/v1/clusters/"]["get"]["responses"]


def test_rate_limit_zero_turns_it_off(owner_api, settings):
    settings.API_RATE_LIMIT = 0
    settings.API_RATE_BURST = 1
    for _ in range(20):
        assert owner_api.get("me/").status_code == 200
    assert not ratelimit.limiter("api").enabled
