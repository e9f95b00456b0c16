"""Errors are JSON of one shape, never HTML nor a traceback."""

from __future__ import annotations

import logging

import pytest

from tests.api.support import deployment_body

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"])
    assert "Traceback" not in response.content.decode()
    return body


def test_validation_error_names_the_dotted_field(owner_api, compute, ready_model):
    body = assert_error_shape(
        owner_api.post(
            "deployments/",
            deployment_body(autoscale_config={"min_replicas": 3, "max_replicas": 1}),
        ),
        400,
    )
    assert body["errors"][0]["field"] == "autoscale_config.max_replicas"
    assert body["detail"].startswith("autoscale_config.max_replicas: ")


def test_several_errors_are_all_listed(owner_api, compute):
    body = assert_error_shape(
        owner_api.post("clusters/east/nodepools/", {"id": "BAD", "memory": "x", "max_nodes": -1}),
        400,
    )
    assert {e["field"] for e in body["errors"]} == {"id", "memory", "max_nodes"}
    assert "(and 2 more)" in body["detail"]


def test_malformed_json_is_400(owner_api):
    response = owner_api.client.post(
        "/api/v1/clusters/",
        data="{nope",
        content_type="application/json",
        headers=owner_api.headers,
    )
    assert_error_shape(response, 400)


def test_body_of_wrong_type_is_400(owner_api):
    assert_error_shape(owner_api.post("clusters/", ["east"]), 400)
    assert_error_shape(owner_api.post("clusters/", "east"), 400)


def test_unknown_path_is_json_404(owner_api, anon_api):
    assert_error_shape(owner_api.get("no/such/thing/"), 404)
    assert_error_shape(anon_api.get("no/such/thing/"), 404)


def test_missing_trailing_slash_is_forgiven(owner_api, compute):
    response = owner_api.get("/api/v1/clusters/east")
    assert response.status_code == 200 and response.json()["id"] == "east"
    response = owner_api.post("/api/v1/clusters", {"id": "west"})
    assert response.status_code == 201


def test_wrong_method_is_json_405(owner_api):
    response = owner_api.post("me/", {})
    assert_error_shape(response, 405)
    assert response["Allow"] == "GET"


def test_api_root_is_json(anon_api):
    body = anon_api.get("/api/v1/").json()
    assert body["openapi"] == "/api/v1/openapi.json" and body["docs"] == "/api/v1/docs"


def test_unexpected_error_is_logged_json_500(owner_api, monkeypatch, caplog):
    import orchestration.api.compute as compute

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(compute, "cluster_out", boom)
    with caplog.at_level(logging.ERROR, logger="orchestration.api"):
        response = owner_api.post("clusters/", {"id": "east"})
    body = assert_error_shape(response, 500)
    assert "secret internals" not in response.content.decode()
    assert body["detail"].startswith("Internal server error")
    assert "secret internals" in caplog.text


def test_in_use_cluster_delete_is_409(owner_api, owner, compute, ready_model, make_deployment):
    make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool, "dep")
    body = assert_error_shape(owner_api.delete("clusters/east/"), 409)
    assert "dep" in body["detail"]
