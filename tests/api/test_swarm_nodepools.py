"""Swarm nodepools through the management API: runtime, manager_url and node_labels in,
out and in errors; the nodes of a swarm nodepool are read-only.

The Swarm manager is not contacted: `swarm_nodes.check` is replaced by a fake that
records its calls and answers as the test says (tests/api/test_swarm_nodepools_live.py
asks a real swarm).
"""

from __future__ import annotations

import pytest

from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Node, Nodepool

pytestmark = pytest.mark.django_db

MANAGER = "unix:///var/run/docker.sock"
POOLS = "clusters/east/nodepools/"


@pytest.fixture
def east(owner, make_cluster):
    return make_cluster(owner, "east")


@pytest.fixture
def swarm_pool(east, make_nodepool):
    return make_nodepool(
        east, "swarm", runtime="swarm", manager_url=MANAGER, node_labels=["gpu=a10g"]
    )


def _errors(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_create_a_swarm_nodepool(owner_api, east, swarm_check):
    response = owner_api.post(
        POOLS,
        {
            "id": "gpu",
            "runtime": "swarm",
            "manager_url": MANAGER,
            "node_labels": ["gpu=a10g", "zone=b"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["runtime"], body["manager_url"]) == ("swarm", MANAGER)
    assert body["node_labels"] == ["gpu=a10g", "zone=b"]
    assert swarm_check.calls == [(MANAGER, ["gpu=a10g", "zone=b"])]
    pool = Nodepool.objects.get(cluster=east, slug="gpu")
    assert pool.is_swarm and pool.node_labels == ["gpu=a10g", "zone=b"]
    assert owner_api.get(POOLS + "gpu/").json()["runtime"] == "swarm"
    listed = {p["id"]: p for p in owner_api.items(POOLS)}
    assert listed["gpu"]["manager_url"] == MANAGER


def test_docker_is_the_default_and_needs_no_manager(owner_api, east, swarm_check):
    body = owner_api.post(POOLS, {"id": "cpu"}).json()
    assert (body["runtime"], body["manager_url"], body["node_labels"]) == ("docker", "", [])
    body = owner_api.post(POOLS, {"id": "cpu2", "runtime": "docker"}).json()
    assert body["runtime"] == "docker"
    assert swarm_check.calls == []


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (
            "manager_url",
            "unix:///var/run/docker-node2.sock: this engine is a Swarm worker, not a manager",
        ),
        ("manager_url", "The Swarm manager at tcp://10.0.0.1:2376 does not answer: timed out"),
        ("node_labels", "No node of the swarm has the labels no.such=label; add them ..."),
    ],
)
def test_the_managers_refusal_is_a_400_naming_the_field(
    owner_api, east, swarm_check, field, problem
):
    swarm_check.problem = swarm_nodes.SwarmProblem(problem, field=field)
    response = owner_api.post(
        POOLS,
        {"id": "gpu", "runtime": "swarm", "manager_url": MANAGER, "node_labels": ["a=b"]},
    )
    assert response.status_code == 400, response.content
    assert _errors(response) == {field: problem}
    assert response.json()["detail"] == f"{field}: {problem}"
    assert not Nodepool.objects.filter(slug="gpu").exists()


def test_swarm_without_manager_url_is_a_400_naming_it(owner_api, east, swarm_check):
    response = owner_api.post(POOLS, {"id": "gpu", "runtime": "swarm"})
    assert response.status_code == 400, response.content
    assert _errors(response) == {"manager_url": "A swarm nodepool needs its manager's engine URL."}
    assert swarm_check.calls == [] and not Nodepool.objects.filter(slug="gpu").exists()


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"runtime": "kubernetes"}, "runtime", "docker"),
        ({"runtime": None}, "runtime", ""),
        ({"manager_url": "tcp://host"}, "manager_url", "Use a manager's engine URL"),
        ({"manager_url": "ssh://me@host"}, "manager_url", "Use a manager's engine URL"),
        ({"manager_url": "tcp://[::1"}, "manager_url", "Use a manager's engine URL"),
        ({"manager_url": "tcp://a:99999"}, "manager_url", "Use a manager's engine URL"),
        ({"manager_url": "unix:///a b"}, "manager_url", "Use a manager's engine URL"),
        ({"manager_url": "unix:///" + "a" * 300}, "manager_url", "255"),
        ({"manager_url": 5}, "manager_url", "string"),
        ({"node_labels": ["bad-item"]}, "node_labels.0", "“bad-item” is not a node label"),
        ({"node_labels": ["a=b", "k=v w"]}, "node_labels.1", "“k=v w” is not a node label"),
        ({"node_labels": ["gpu=ä"]}, "node_labels.0", "printable ASCII"),
        ({"node_labels": "gpu=a10g"}, "node_labels", "list"),
        ({"node_labels": [f"k{i}=v" for i in range(17)]}, "node_labels", "16"),
    ],
)
def test_bad_swarm_settings_are_refused_before_the_manager_is_asked(
    owner_api, east, swarm_check, body, field, fragment
):
    response = owner_api.post(
        POOLS, {"id": "gpu", "runtime": "swarm", "manager_url": MANAGER, **body}
    )
    assert response.status_code == 400, response.content
    errors = _errors(response)
    assert field in errors, errors
    assert fragment in errors[field]
    assert swarm_check.calls == [] and not Nodepool.objects.filter(slug="gpu").exists()


def test_runtime_change_is_409_when_the_pool_has_nodes(owner_api, compute, swarm_check):
    response = owner_api.patch(POOLS + "cpu/", {"runtime": "swarm", "manager_url": MANAGER})
    assert response.status_code == 409, response.content
    assert "runtime" in _errors(response)
    assert "cannot change" in _errors(response)["runtime"]
    compute.nodepool.refresh_from_db()
    assert (compute.nodepool.runtime, compute.nodepool.manager_url) == ("docker", "")
    assert swarm_check.calls == []


def test_runtime_change_is_409_when_the_pool_has_deployments(
    owner_api, owner, east, make_nodepool, ready_model, make_deployment, swarm_check
):
    pool = make_nodepool(east, "busy")
    make_deployment(owner, ready_model.model, ready_model.version, pool, "dep")
    response = owner_api.patch(POOLS + "busy/", {"runtime": "swarm", "manager_url": MANAGER})
    assert response.status_code == 409 and "runtime" in _errors(response)


def test_an_empty_pool_may_change_its_runtime(owner_api, east, make_nodepool, swarm_check):
    make_nodepool(east, "empty")
    response = owner_api.patch(POOLS + "empty/", {"runtime": "swarm", "manager_url": MANAGER})
    assert response.status_code == 200, response.content
    assert response.json()["runtime"] == "swarm"
    assert swarm_check.calls == [(MANAGER, [])]
    # Back to docker: no manager is asked.
    response = owner_api.patch(POOLS + "empty/", {"runtime": "docker"})
    assert response.status_code == 200 and response.json()["runtime"] == "docker"
    assert len(swarm_check.calls) == 1


def test_patch_swarm_settings_asks_the_manager_again(owner_api, swarm_pool, swarm_check):
    swarm_check.problem = swarm_nodes.SwarmProblem(
        "No node of the swarm has the labels gpu=h100", field="node_labels"
    )
    response = owner_api.patch(POOLS + "swarm/", {"node_labels": ["gpu=h100"]})
    assert response.status_code == 400
    assert _errors(response) == {"node_labels": "No node of the swarm has the labels gpu=h100"}
    swarm_pool.refresh_from_db()
    assert swarm_pool.node_labels == ["gpu=a10g"]
    # Other settings are changed without asking it.
    swarm_check.calls.clear()
    response = owner_api.patch(POOLS + "swarm/", {"description": "GPUs"})
    assert response.status_code == 200 and swarm_check.calls == []


def test_patch_to_an_empty_manager_url_is_a_400(owner_api, swarm_pool, swarm_check):
    response = owner_api.patch(POOLS + "swarm/", {"manager_url": ""})
    assert response.status_code == 400
    assert "manager_url" in _errors(response)
    swarm_pool.refresh_from_db()
    assert swarm_pool.manager_url == MANAGER


def test_nodes_of_a_swarm_nodepool_are_read_only(owner_api, swarm_pool, make_node, queued_tasks):
    make_node(
        swarm_pool,
        "worker-a",
        engine_url="unix:///var/run/docker-node2.sock",
        swarm_node_id="abc123",
        availability="drain",
    )
    nodes = POOLS + "swarm/nodes/"
    listed = owner_api.items(nodes)
    assert [(n["name"], n["availability"], n["swarm_node_id"]) for n in listed] == [
        ("worker-a", "drain", "abc123")
    ]
    response = owner_api.post(nodes, {"name": "node-9", "engine_url": "tcp://10.0.0.9:2376"})
    assert response.status_code == 409, response.content
    assert "swarm" in _errors(response)["name"]
    assert owner_api.patch(nodes + "worker-a/", {"address": "10.0.0.2"}).status_code == 409
    assert owner_api.delete(nodes + "worker-a/").status_code == 409
    assert list(Node.objects.filter(nodepool=swarm_pool).values_list("name", "address")) == [
        ("worker-a", "127.0.0.1")
    ]
    assert queued_tasks == []


def test_docker_nodes_report_empty_swarm_fields(owner_api, compute):
    node = owner_api.get(POOLS + "cpu/nodes/node-1/").json()
    assert (node["availability"], node["swarm_node_id"]) == ("", "")


def test_another_user_gets_404_on_a_swarm_nodepool(other_api, anon_api, swarm_pool, swarm_check):
    for api, status in ((other_api, 404), (anon_api, 401)):
        assert api.get(POOLS + "swarm/").status_code == status
        assert api.patch(POOLS + "swarm/", {"node_labels": []}).status_code == status
        assert api.get(POOLS + "swarm/nodes/").status_code == status
        created = api.post(POOLS, {"id": "x", "runtime": "swarm", "manager_url": MANAGER})
        assert created.status_code == status
    assert swarm_check.calls == []
    swarm_pool.refresh_from_db()
    assert swarm_pool.node_labels == ["gpu=a10g"]


def test_the_schema_states_the_swarm_fields(visitor_client):
    schemas = visitor_client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    for name in ("NodepoolIn", "NodepoolPatch", "NodepoolOut"):
        assert {"runtime", "manager_url", "node_labels"} <= set(schemas[name]["properties"]), name
    assert schemas["NodepoolIn"]["properties"]["runtime"]["default"] == "docker"
    assert {"availability", "swarm_node_id"} <= set(schemas["NodeOut"]["properties"])
