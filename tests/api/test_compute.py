"""Clusters, nodepools and nodes through the API."""

from __future__ import annotations

import pytest

from orchestration.clusters.models import Cluster
from orchestration.nodepools.models import Node, Nodepool

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(db):
    from orchestration.nodepools.shared import ensure_shared_compute

    return ensure_shared_compute()


def test_cluster_crud(owner_api, owner):
    created = owner_api.post(
        "clusters/",
        {"id": "east", "description": "Virginia", "cloud_provider": "aws", "region": "us-east-1"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"] == "east" and body["shared"] is False and body["nodepools"] == 0
    assert Cluster.objects.get(slug="east").owner == owner

    patched = owner_api.patch("clusters/east/", {"region": "us-east-2"})
    assert patched.json()["region"] == "us-east-2"
    assert patched.json()["description"] == "Virginia"  # untouched

    assert owner_api.delete("clusters/east/").status_code == 204
    assert owner_api.get("clusters/east/").status_code == 404


def test_cluster_create_defaults(owner_api):
    body = owner_api.post("clusters/", {"id": "site-1"}).json()
    assert body["cloud_provider"] == "local" and body["region"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "Bad Id"}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 65}, "id"),
        ({}, "id"),
        ({"id": "ok", "cloud_provider": "mars"}, "cloud_provider"),
        ({"id": "ok", "description": "x" * 301}, "description"),
        ({"id": "ok", "region": 5}, "region"),
        ({"id": "ok", "colour": "red"}, "colour"),
        ({"id": "ok", "description": "nul\x00byte"}, "description"),
    ],
)
def test_cluster_validation_errors(owner_api, body, field):
    response = owner_api.post("clusters/", body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["message"]


def test_cluster_missing_id_message(owner_api):
    response = owner_api.post("clusters/", {})
    assert response.json()["errors"] == [{"field": "id", "message": "This field is required."}]


def test_duplicate_cluster_is_409(owner_api):
    assert owner_api.post("clusters/", {"id": "east"}).status_code == 201
    response = owner_api.post("clusters/", {"id": "east"})
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"field": "id", "message": "You already have a cluster with this ID."}
    ]


def test_shared_cluster_is_listed_to_everyone_and_read_only(shared, owner_api, other_api):
    for api in (owner_api, other_api):
        clusters = api.items("clusters/")
        assert [c["id"] for c in clusters] == ["shared"]
        assert clusters[0]["shared"] is True
        assert api.get("clusters/shared/nodepools/shared/").status_code == 200
        assert [n["name"] for n in api.items("clusters/shared/nodepools/shared/nodes/")] == [
            "local"
        ]
    for response in (
        owner_api.patch("clusters/shared/", {"description": "mine"}),
        owner_api.delete("clusters/shared/"),
        owner_api.post("clusters/shared/nodepools/", {"id": "more"}),
        owner_api.patch("clusters/shared/nodepools/shared/", {"max_nodes": 9}),
        owner_api.delete("clusters/shared/nodepools/shared/"),
        owner_api.post(
            "clusters/shared/nodepools/shared/nodes/",
            {"name": "n2", "engine_url": "tcp://h:2376"},
        ),
        owner_api.delete("clusters/shared/nodepools/shared/nodes/local/"),
    ):
        assert response.status_code == 403, response.content
        assert "read-only" in response.json()["detail"]
    assert owner_api.post("clusters/", {"id": "shared"}).status_code == 409


def test_nodepool_quantities(owner_api, make_cluster, owner):
    make_cluster(owner, "east")
    response = owner_api.post(
        "clusters/east/nodepools/",
        {
            "id": "gpu",
            "instance_type": "g5.xlarge",
            "cpu_cores": "3500m",
            "memory": "16Gi",
            "accelerators": 1,
            "accelerator_type": "A10G",
            "price_per_hour": 1.006,
            "min_nodes": 0,
            "max_nodes": 4,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cpu_cores"] == 3.5
    assert body["memory_bytes"] == 16 * 1024**3 and body["memory"] == "16Gi"
    assert body["cluster_id"] == "east" and body["nodes"] == 0
    pool = Nodepool.objects.get(slug="gpu")
    assert pool.memory_bytes == 16 * 1024**3

    assert (
        owner_api.patch("clusters/east/nodepools/gpu/", {"memory": 1024**3}).json()["memory"]
        == "1Gi"
    )
    assert (
        owner_api.patch("clusters/east/nodepools/gpu/", {"cpu_cores": 2}).json()["cpu_cores"] == 2.0
    )


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"id": "p", "memory": "8GB"}, "memory", "did you mean 8Gi or 8G"),
        ({"id": "p", "memory": "500m"}, "memory", "thousandths of a byte"),
        ({"id": "p", "memory": 0}, "memory", "more than 0"),
        ({"id": "p", "memory": -5}, "memory", "negative"),
        ({"id": "p", "memory": True}, "memory", "not a memory quantity"),
        ({"id": "p", "memory": [1]}, "memory", "not a memory quantity"),
        ({"id": "p", "cpu_cores": "two"}, "cpu_cores", "not a CPU quantity"),
        ({"id": "p", "cpu_cores": 0}, "cpu_cores", "more than 0"),
        ({"id": "p", "cpu_cores": 1e9}, "cpu_cores", "at most"),
        ({"id": "p", "min_nodes": 3, "max_nodes": 2}, "max_nodes", "Minimum nodes"),
        ({"id": "p", "max_nodes": -1}, "max_nodes", "greater than or equal"),
        ({"id": "p", "max_nodes": 2**40}, "max_nodes", "less than or equal"),
        ({"id": "p", "price_per_hour": -1}, "price_per_hour", "greater than or equal"),
    ],
)
def test_nodepool_validation_errors(owner_api, make_cluster, owner, body, field, fragment):
    make_cluster(owner, "east")
    response = owner_api.post("clusters/east/nodepools/", body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert errors[0]["field"] == field
    assert fragment in errors[0]["message"]


def test_nodepool_patch_keeps_rules(owner_api, compute):
    response = owner_api.patch("clusters/east/nodepools/cpu/", {"min_nodes": 5})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "max_nodes"


def test_duplicate_nodepool_is_409(owner_api, compute):
    response = owner_api.post("clusters/east/nodepools/", {"id": "cpu"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "id"


def test_node_add_queues_probe(
    owner_api, compute, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(
            "clusters/east/nodepools/cpu/nodes/",
            {"name": "gpu-box", "engine_url": "tcp://10.0.0.7:2376", "address": "10.0.0.7"},
        )
    assert response.status_code == 201, response.content
    node = Node.objects.get(name="gpu-box")
    assert queued_tasks == [("probe_node", (node.pk,))]
    body = response.json()
    # Capacity defaults to the nodepool's instance type.
    assert body["cpu_capacity"] == 2.0 and body["memory_capacity"] == "8Gi"
    assert body["status"] == "unknown" and body["used_cpu"] == 0
    assert body["cluster_id"] == "east" and body["nodepool_id"] == "cpu"


def test_node_explicit_capacity(owner_api, compute):
    body = owner_api.post(
        "clusters/east/nodepools/cpu/nodes/",
        {
            "name": "n2",
            "engine_url": "unix:///var/run/docker.sock",
            "cpu_capacity": 16,
            "memory_capacity": "64Gi",
            "accelerators": 2,
        },
    ).json()
    assert (body["cpu_capacity"], body["memory_capacity_bytes"], body["accelerators"]) == (
        16.0,
        64 * 1024**3,
        2,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n", "engine_url": "docker.example.com"}, "engine_url"),
        ({"name": "n", "engine_url": "tcp://"}, "engine_url"),
        ({"name": "n", "engine_url": "tcp://a b"}, "engine_url"),
        ({"name": "n"}, "engine_url"),
        ({"name": "N!", "engine_url": "tcp://h:1"}, "name"),
        ({"name": "n", "engine_url": "tcp://h:1", "address": ""}, "address"),
        ({"name": "n", "engine_url": "tcp://h:1", "memory_capacity": "lots"}, "memory_capacity"),
        ({"name": "n", "engine_url": "tcp://h:1", "cpu_capacity": None}, "cpu_capacity"),
    ],
)
def test_node_validation_errors(owner_api, compute, body, field):
    response = owner_api.post("clusters/east/nodepools/cpu/nodes/", body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field


def test_duplicate_node_is_409(owner_api, compute):
    response = owner_api.post(
        "clusters/east/nodepools/cpu/nodes/", {"name": "node-1", "engine_url": "tcp://h:2376"}
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


def test_node_with_live_replicas_cannot_be_removed(
    owner_api, owner, compute, ready_model, make_deployment
):
    from orchestration.deployments.models import Replica

    dep = make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool)
    replica = Replica.objects.create(
        deployment=dep, model_version=ready_model.version, node=compute.node, state="ready"
    )
    response = owner_api.delete("clusters/east/nodepools/cpu/nodes/node-1/")
    assert response.status_code == 409
    assert "1 replica" in response.json()["detail"]
    Replica.objects.filter(pk=replica.pk).update(state="stopped")
    assert owner_api.delete("clusters/east/nodepools/cpu/nodes/node-1/").status_code == 204


def test_node_usage_is_reported(owner_api, owner, compute, ready_model, make_deployment):
    from orchestration.deployments.models import Replica

    dep = make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool)
    Replica.objects.create(
        deployment=dep, model_version=ready_model.version, node=compute.node, state="ready"
    )
    body = owner_api.get("clusters/east/nodepools/cpu/nodes/node-1/").json()
    assert body["used_cpu"] > 0 and body["used_memory_bytes"] > 0


def test_cluster_delete_removes_nodepools_and_nodes(owner_api, compute):
    assert owner_api.delete("clusters/east/").status_code == 204
    assert not Nodepool.objects.filter(pk=compute.nodepool.pk).exists()
    assert not Node.objects.filter(pk=compute.node.pk).exists()


def test_counts_in_listings(owner_api, compute, owner, ready_model, make_deployment):
    make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool)
    (cluster,) = owner_api.items("clusters/")
    assert cluster["nodepools"] == 1
    (pool,) = owner_api.items("clusters/east/nodepools/")
    assert (pool["nodes"], pool["deployments"]) == (1, 1)
