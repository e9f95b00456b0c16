"""The OpenAPI schema states the limits the server enforces (issue 12, defect 5).

Each case the fuzzing run found: the schema must refuse what the server refuses, and the
server must refuse what the schema refuses (`max_nodes: false` was stored as 0).
"""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return Client().get("/api/v1/openapi.json").json()


def _valid(openapi, name: str, body: dict) -> bool:
    # $refs point at #/components/schemas/...: resolve them against the whole document.
    schema = {"$ref": f"#/components/schemas/{name}", "components": openapi["components"]}
    return jsonschema_rs.validator_for(schema).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "p", "cpu_cores": 0.0},
        {"id": "p", "cpu_cores": "0"},
        {"id": "p", "cpu_cores": "0.5m"},
        {"id": "p", "memory": 0},
        {"id": "p", "memory": ""},
        {"id": "p", "memory": 1.5},
        {"id": "p", "max_nodes": False},
        {"id": "p", "max_nodes": "2"},
        {"id": "p", "price_per_hour": True},
        {"id": "p", "instance_type": ""},
    ],
)
def test_nodepool_values_the_server_refuses_are_schema_invalid(openapi, owner_api, compute, body):
    assert not _valid(openapi, "NodepoolIn", body)
    response = owner_api.post("clusters/east/nodepools/", body)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "body",
    [
        {"id": "p", "cpu_cores": 0.001, "memory": 1},
        {"id": "p", "cpu_cores": "1m", "memory": "1Ki"},
        {"id": "p", "cpu_cores": "99999.999", "memory": "512Mi"},
        {"id": "p", "cpu_cores": ".5", "max_nodes": 3.0},
        {"id": "p", "memory": 4 * 1024**3, "price_per_hour": 1},
    ],
)
def test_schema_valid_nodepools_are_accepted(openapi, owner_api, compute, body):
    assert _valid(openapi, "NodepoolIn", body)
    response = owner_api.post("clusters/east/nodepools/", body)
    assert response.status_code == 201, response.content


def test_max_nodes_false_is_not_stored_as_zero(owner_api, compute):
    response = owner_api.post("clusters/east/nodepools/", {"id": "p", "max_nodes": False})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "max_nodes"


@pytest.mark.parametrize("url", ["0", "tcp://", "tcp:// host", "tcp://h\u0085", " unix:///x"])
def test_engine_urls_the_server_refuses_are_schema_invalid(openapi, owner_api, compute, url):
    assert not _valid(openapi, "NodeIn", {"name": "n", "engine_url": url})
    response = owner_api.post(
        "clusters/east/nodepools/cpu/nodes/", {"name": "n", "engine_url": url}
    )
    assert response.status_code == 400, response.content


def test_autoscale_settings_are_whole_numbers_not_booleans(owner_api, compute, ready_model):
    body = {
        "id": "d",
        "model_id": "sentiment",
        "cluster_id": "east",
        "nodepool_id": "cpu",
        "autoscale_config": {"min_replicas": True},
    }
    assert owner_api.post("deployments/", body).status_code == 400
    body["autoscale_config"] = {"min_replicas": 1.0, "max_replicas": 2.0}
    assert owner_api.post("deployments/", body).status_code == 201


def test_quantity_patterns_are_anchored(openapi):
    pool = openapi["components"]["schemas"]["NodepoolIn"]["properties"]
    for name in ("cpu_cores", "memory"):
        pattern = next(b["pattern"] for b in pool[name]["anyOf"] if b["type"] == "string")
        assert pattern.startswith("^") and pattern.endswith("$")
        assert not re.search(pattern, "0")
