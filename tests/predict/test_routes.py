"""One table of predict paths serves the ASGI app and Django's URLconf alike."""

from __future__ import annotations

import pytest
from django.urls import resolve as django_resolve

from orchestration.predict import routes, views

CASES = [
    ("/v2/models/m/outputs", {"model_slug": "m"}),
    ("/v2/models/m/outputs/", {"model_slug": "m"}),
    ("/v2/models/m/versions/v1/outputs", {"model_slug": "m", "version_id": "v1"}),
    ("/v2/users/me/apps/main/models/m/outputs", {"user_id": "me", "model_slug": "m"}),
    (
        "/v2/users/me/apps/main/models/m/versions/3/outputs",
        {"user_id": "me", "model_slug": "m", "version_id": "3"},
    ),
    ("/v2/users/me/deployments/d/outputs", {"user_id": "me", "deployment_slug": "d"}),
]


@pytest.mark.parametrize(("path", "expected"), CASES)
def test_both_entry_points_read_the_same_arguments(path, expected):
    kind, where = routes.match(path)
    assert kind == "outputs"
    assert {k: v for k, v in where.items() if v is not None} == expected
    found = django_resolve(path)
    assert found.func is views.outputs
    assert {k: v for k, v in routes.where(found.kwargs).items() if v is not None} == expected


@pytest.mark.parametrize(("path", "expected"), CASES)
def test_each_place_streams_at_outputs_generate(path, expected):
    streaming = path.rstrip("/") + "/generate"
    for candidate in (streaming, streaming + "/"):
        kind, where = routes.match(candidate)
        assert kind == "generate"
        assert {k: v for k, v in where.items() if v is not None} == expected
        found = django_resolve(candidate)
        assert found.func is views.generate
        assert {k: v for k, v in routes.where(found.kwargs).items() if v is not None} == expected


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/outputs",
        "/v2/models/m/x/outputs",
        "/v2/models/m/outputs/extra",
        "/v2/models/m/generate",
        "/v2/models/m/outputs/generate/more",
    ],
)
def test_other_paths_match_nothing(path):
    assert routes.match(path) is None
