"""Every endpoint for the owner, another user (404) and no key (401)."""

from __future__ import annotations

import pytest

from tests.api.support import ApiClient, deployment_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(owner, compute, ready_model, make_nodepool, make_deployment):
    """The owner's compute, model and deployment `dep` on east/cpu; an empty nodepool `gpu`."""
    make_nodepool(compute.cluster, "gpu")
    deployment = make_deployment(
        owner, ready_model.model, ready_model.version, compute.nodepool, "dep"
    )
    return {"version": ready_model.version.version_id, "deployment": deployment}


NP = "clusters/east/nodepools/cpu/"
NODE = NP + "nodes/node-1/"

# (method, path, body, status for the owner); the other user gets 404, no key 401.
OBJECT_ENDPOINTS = [
    ("get", "clusters/east/", None, 200),
    ("patch", "clusters/east/", {"description": "changed"}, 200),
    ("put", "clusters/east/", {"region": "eu-west-1"}, 200),
    ("delete", "clusters/east/", None, 409),  # its nodepool has a deployment
    ("get", "clusters/east/nodepools/", None, 200),
    ("post", "clusters/east/nodepools/", {"id": "new-pool", "memory": "8Gi"}, 201),
    ("get", NP, None, 200),
    ("patch", NP, {"max_nodes": 3}, 200),
    ("put", NP, {"description": "pool"}, 200),
    ("delete", NP, None, 409),  # has a deployment
    ("delete", "clusters/east/nodepools/gpu/", None, 204),
    ("get", NP + "nodes/", None, 200),
    ("post", NP + "nodes/", {"name": "node-2", "engine_url": "tcp://10.0.0.2:2376"}, 201),
    ("get", NODE, None, 200),
    ("patch", NODE, {"address": "10.0.0.1"}, 200),
    ("put", NODE, {"cpu_capacity": "1500m"}, 200),
    ("delete", NODE, None, 204),
    ("get", "models/sentiment/", None, 200),
    ("delete", "models/sentiment/", None, 409),  # has a deployment
    ("get", "models/sentiment/versions/", None, 200),
    ("get", "models/sentiment/versions/{version}/", None, 200),
    ("get", "models/sentiment/versions/1/", None, 200),
    ("get", "deployments/dep/", None, 200),
    ("patch", "deployments/dep/", {"autoscale_config": {"max_replicas": 2}}, 200),
    ("put", "deployments/dep/", {"description": "put"}, 200),
    ("delete", "deployments/dep/", None, 202),
    ("get", "deployments/dep/replicas/", None, 200),
    ("get", "deployments/dep/scaling/", None, 200),
    (
        "post",
        "deployments/",
        deployment_body(id="dep2", nodepool_id="gpu", model_version_id=None),
        201,
    ),
]


def _call(api: ApiClient, method: str, path: str, body):
    if method in ("post", "patch", "put"):
        return getattr(api, method)(path, body)
    return getattr(api, method)(path)


def _ids(params):
    return f"{params[0].upper()} {params[1]}"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), OBJECT_ENDPOINTS, ids=map(_ids, OBJECT_ENDPOINTS)
)
def test_owner(world, owner_api, method, path, body, status):
    path = path.format(**world)
    if body and body.get("model_version_id", "x") is None:
        body = {k: v for k, v in body.items() if k != "model_version_id"}
    response = _call(owner_api, method, path, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json") or status == 204
    if status >= 400:
        assert response.json()["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), OBJECT_ENDPOINTS, ids=map(_ids, OBJECT_ENDPOINTS)
)
def test_other_user_gets_404(world, other_api, method, path, body, status):
    """Another user's objects answer exactly like missing ones."""
    path = path.format(**world)
    if body and body.get("model_version_id", "x") is None:
        body = {k: v for k, v in body.items() if k != "model_version_id"}
    response = _call(other_api, method, path, body)
    assert response.status_code == 404, response.content
    error = response.json()
    assert error["errors"][0]["message"].startswith("No ")
    assert set(error) == {"detail", "errors"}


ALL_ENDPOINTS = [
    *OBJECT_ENDPOINTS,
    ("get", "me/", None, 200),
    ("get", "clusters/", None, 200),
    ("post", "clusters/", {"id": "west"}, 201),
    ("get", "models/", None, 200),
    ("get", "deployments/", None, 200),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), ALL_ENDPOINTS, ids=map(_ids, ALL_ENDPOINTS)
)
@pytest.mark.parametrize("key", [None, "orc_not-a-real-key", "garbage"])
def test_no_or_bad_key_gets_401(world, anon_api, method, path, body, status, key):
    api = ApiClient(key) if key else anon_api
    response = _call(api, method, path.format(**world), body)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Key"
    assert response.json()["errors"][0]["field"] is None


def test_upload_without_key_is_401(anon_api, tmp_path):
    response = anon_api.client.post("/api/v1/models/", {"archive": b"x"})
    assert response.status_code == 401


def test_lists_show_only_own_objects(world, other_api, owner_api):
    assert [c["id"] for c in owner_api.items("clusters/")] == ["east"]
    assert other_api.items("clusters/") == []
    assert other_api.items("models/") == []
    assert other_api.items("deployments/") == []
    assert [d["id"] for d in owner_api.items("deployments/")] == ["dep"]
    assert [m["id"] for m in owner_api.items("models/")] == ["sentiment"]


def test_other_user_cannot_deploy_on_foreign_nodepool(world, other_user, make_model, other_api):
    make_model(other_user, "mine")
    response = other_api.post("deployments/", deployment_body(model_id="mine"))
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "cluster_id"


def test_other_user_cannot_deploy_foreign_model(world, other_user, make_cluster, other_api):
    make_cluster(other_user, "east")  # same ids as the owner's, in the other user's account
    response = other_api.post("deployments/", deployment_body())
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "model_id"


def test_same_ids_in_two_accounts_do_not_collide(world, other_api, owner_api):
    assert other_api.post("clusters/", {"id": "east"}).status_code == 201
    assert other_api.get("clusters/east/").json()["region"] == ""
    assert owner_api.get("clusters/east/").json()["region"] == "us-east-1"
