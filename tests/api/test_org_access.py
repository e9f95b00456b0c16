"""Every API operation on an organization's objects, for each role (a key scoped to the
organization) and an outsider: the owner's answer, 403 where the role may not, 404 for
the outsider. Plus what scoped and personal keys reach."""

from __future__ import annotations

import pytest

from tests.api.support import ApiClient
from tests.api.test_access import ALL_ENDPOINTS, OBJECT_ENDPOINTS, _call, _ids

pytestmark = pytest.mark.django_db

ALLOWED = {
    "compute": {"owner", "admin"},
    "models": {"owner", "admin"},
    "deploy": {"owner", "admin", "member"},
    "billing": {"owner"},
}


def _perm(method: str, path: str) -> str | None:
    """What an operation needs beyond seeing the organization (None: reading)."""
    if method == "get":
        return "billing" if "cost" in path else None
    if path.startswith("clusters/"):
        return "compute"
    if path.startswith("models/"):
        return "models"
    return "deploy"


@pytest.fixture
def acme(team, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    """The API tests' world, owned by the organization."""
    cluster = make_cluster(team.account, "east")
    pool = make_nodepool(cluster, "cpu")
    make_nodepool(cluster, "gpu")
    make_node(pool, "node-1")
    model, version = make_model(team.account, "sentiment")
    make_deployment(team.account, model, version, pool, "dep")
    team.world = {"version": version.version_id}
    return team


def _body(body):
    if body and body.get("model_version_id", "x") is None:
        return {k: v for k, v in body.items() if k != "model_version_id"}
    return body


ENDPOINTS = [
    *OBJECT_ENDPOINTS,
    ("get", "costs/", None, 200),
    ("get", "deployments/dep/cost/", None, 200),
    ("post", "clusters/", {"id": "west"}, 201),
]


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
@pytest.mark.parametrize(("method", "path", "body", "status"), ENDPOINTS, ids=map(_ids, ENDPOINTS))
def test_each_role(acme, role, method, path, body, status):
    api = ApiClient(acme.key(role))
    response = _call(api, method, path.format(**acme.world), _body(body))
    perm = _perm(method, path)
    if perm is None or role in ALLOWED[perm]:
        assert response.status_code == status, (role, response.content)
    else:
        assert response.status_code == 403, (role, response.content)
        assert response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), OBJECT_ENDPOINTS, ids=map(_ids, OBJECT_ENDPOINTS)
)
def test_the_outsider_gets_404(acme, method, path, body, status):
    api = ApiClient(acme.key("outsider"))
    response = _call(api, method, path.format(**acme.world), _body(body))
    assert response.status_code == 404, response.content


@pytest.mark.parametrize("role", ["owner", "member", "outsider"])
def test_a_personal_key_acts_in_the_personal_space(acme, role):
    api = ApiClient(acme.key(role, scoped=False))
    assert api.items("clusters/") == [] or all(c["id"] == "shared" for c in api.items("clusters/"))
    assert api.items("models/") == [] and api.items("deployments/") == []
    assert api.get("me/").json()["space"] == f"team-{role}"


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_a_scoped_key_lists_the_organizations_objects(acme, role):
    api = ApiClient(acme.key(role))
    assert [m["id"] for m in api.items("models/")] == ["sentiment"]
    assert [d["id"] for d in api.items("deployments/")] == ["dep"]
    me = api.get("me/").json()
    assert me == {
        "username": f"team-{role}",
        "email": f"{role}@acme.test",
        "space": "acme",
        "role": role,
    }


def test_a_scoped_key_dies_with_the_membership(acme):
    from orchestration.accounts import org_actions
    from orchestration.accounts.access import organization_space

    key = acme.key("member")
    assert ApiClient(key).get("me/").status_code == 200
    owner = organization_space(acme.users["owner"], acme.organization)
    org_actions.remove_member(owner, username="team-member")
    assert ApiClient(key).get("me/").status_code == 401


def test_a_deployment_made_with_a_members_key_is_the_organizations(acme):
    from orchestration.accounts.models import Event
    from orchestration.deployments.models import Deployment

    api = ApiClient(acme.key("member"))
    body = {"id": "dep2", "model_id": "sentiment", "cluster_id": "east", "nodepool_id": "gpu"}
    response = api.post("deployments/", body)
    assert response.status_code == 201, response.content
    assert Deployment.objects.get(slug="dep2").owner == acme.account
    assert Event.objects.filter(action="deployed", target="dep2", actor_name="team-member")


def test_session_calls_act_in_the_portals_space(acme):
    client = acme.client("viewer")
    api = ApiClient(None, client=client)
    assert [m["id"] for m in api.items("models/")] == ["sentiment"]
    response = client.delete("/api/v1/deployments/dep/")
    assert response.status_code == 403, response.content
    assert "cannot deploy" in response.json()["detail"]
    response = acme.client("member").delete("/api/v1/deployments/dep/")
    assert response.status_code == 202, response.content


def test_every_endpoint_is_in_the_matrix():
    tested = {(m, p) for m, p, _, _ in ENDPOINTS} | {("get", "me/")}
    listed = {(m, p) for m, p, _, _ in ALL_ENDPOINTS}
    assert listed - tested <= {("get", "clusters/"), ("get", "models/"), ("get", "deployments/")}
