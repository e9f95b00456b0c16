"""The OpenAPI schema and the self-hosted docs pages."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(visitor_client):
    response = visitor_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


EXPECTED = {
    ("get", "/api/v1/clusters/"),
    ("post", "/api/v1/clusters/"),
    ("get", "/api/v1/clusters/{cluster_id}/"),
    ("patch", "/api/v1/clusters/{cluster_id}/"),
    ("put", "/api/v1/clusters/{cluster_id}/"),
    ("delete", "/api/v1/clusters/{cluster_id}/"),
    ("get", "/api/v1/clusters/{cluster_id}/nodepools/"),
    ("post", "/api/v1/clusters/{cluster_id}/nodepools/"),
    ("get", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/"),
    ("patch", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/"),
    ("delete", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/"),
    ("get", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes/"),
    ("post", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes/"),
    ("get", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes/{name}/"),
    ("delete", "/api/v1/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes/{name}/"),
    ("get", "/api/v1/models/"),
    ("post", "/api/v1/models/"),
    ("get", "/api/v1/models/{model_id}/"),
    ("delete", "/api/v1/models/{model_id}/"),
    ("get", "/api/v1/models/{model_id}/versions/"),
    ("get", "/api/v1/models/{model_id}/versions/{version_id}/"),
    ("get", "/api/v1/deployments/"),
    ("post", "/api/v1/deployments/"),
    ("get", "/api/v1/deployments/{deployment_id}/"),
    ("patch", "/api/v1/deployments/{deployment_id}/"),
    ("delete", "/api/v1/deployments/{deployment_id}/"),
    ("get", "/api/v1/deployments/{deployment_id}/replicas/"),
}


def test_schema_has_every_operation_with_its_errors(schema):
    ops = {(m, p): op for p, item in schema["paths"].items() for m, op in item.items()}
    assert set(ops) >= EXPECTED
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    for (method, path), op in ops.items():
        codes = set(op["responses"])
        assert {"401", "500"} <= codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if method in ("post", "patch", "put"):
            assert "400" in codes, (method, path)
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorOut")
                assert response["description"] not in ("", "Bad Request")
    assert "409" in ops[("post", "/api/v1/deployments/")]["responses"]
    assert "409" in ops[("post", "/api/v1/clusters/")]["responses"]
    assert ops[("post", "/api/v1/models/")]["requestBody"]["content"]["multipart/form-data"]
    assert set(schema["components"]["securitySchemes"]) == {"KeyAuth", "SessionAuth"}


def test_schema_describes_autoscale_config(schema):
    autoscale = schema["components"]["schemas"]["AutoscaleIn"]["properties"]
    assert set(autoscale) == {
        "min_replicas",
        "max_replicas",
        "scale_down_delay_seconds",
        "traffic_history_seconds",
        "scale_up_delay_seconds",
        "scale_to_zero_delay_seconds",
        "target_concurrency",
    }
    replica = schema["components"]["schemas"]["ReplicaOut"]["properties"]
    assert {"id", "state", "node", "address", "started_at", "last_error"} <= set(replica)


def test_docs_page_lists_every_operation_without_a_cdn(visitor_client, schema):
    response = visitor_client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    for path, item in schema["paths"].items():
        for op in item.values():
            assert f'id="{op["operationId"]}"' in html
            assert path in html
    assert "ErrorOut" in html and "409" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_swagger_ui_is_self_hosted(visitor_client):
    html = visitor_client.get("/api/v1/docs/swagger").content.decode()
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html
    assert "https://" not in html
    asset = visitor_client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and asset["Content-Type"].endswith("javascript")
    assert visitor_client.get("/api/v1/docs/assets/..%2Fsettings.py").status_code == 404
    assert visitor_client.get("/api/v1/docs/assets/nope.js").status_code == 404
