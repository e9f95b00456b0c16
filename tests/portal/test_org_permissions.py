"""Every portal page of an organization, for each role and an outsider: allowed, refused
(403) for a role that may see but not do it, or 404 for the outsider, who learns nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orchestration.accounts.models import Event
from orchestration.constants import AUTOSCALE_DEFAULTS
from orchestration.deployments.models import Deployment

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "viewer")
EVERYONE = (*ROLES, "outsider")


@pytest.fixture
def acme(team, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    """acme's cluster east/cpu with a node, model sentiment, and deployment dep."""
    cluster = make_cluster(team.account, "east")
    pool = make_nodepool(cluster, "cpu")
    node = make_node(pool)
    model, version = make_model(team.account, "sentiment")
    deployment = make_deployment(team.account, model, version, pool, "dep")
    team.objects = {"node": node, "version": version, "deployment": deployment}
    return team


def _reads(acme) -> list[str]:
    version = acme.objects["version"].version_id
    return [
        reverse("clusters:detail", args=["east"]),
        reverse("clusters:nodepool", args=["east", "cpu"]),
        reverse("models:detail", args=["sentiment"]),
        reverse("models:versions", args=["sentiment"]),
        reverse("models:deployments", args=["sentiment"]),
        reverse("models:version", args=["sentiment", version]),
        reverse("deployments:detail", args=["dep"]),
        reverse("accounts:members", args=["acme"]),
        reverse("accounts:activity", args=["acme"]),
    ]


@pytest.mark.parametrize("role", EVERYONE)
def test_reading_pages(acme, role):
    client = acme.client(role)
    for url in _reads(acme):
        expected = 404 if role == "outsider" else 200
        assert client.get(url).status_code == expected, (role, url)


@pytest.mark.parametrize("role", EVERYONE)
def test_lists_show_the_organizations_objects_to_members_only(acme, role):
    client = acme.client(role)
    pages = {
        "/compute/": "east",
        "/models/": "sentiment",
        "/deployments/": "dep",
        "/": "sentiment",
    }
    for url, text in pages.items():
        body = client.get(url).content.decode()
        assert (f">{text}<" in body) == (role != "outsider"), (role, url)


def _writes(acme) -> dict[str, list[tuple[str, str]]]:
    """Per permission, the (method, url) of each page that needs it."""
    node = acme.objects["node"].pk
    return {
        "compute": [
            ("get", reverse("clusters:create")),
            ("get", reverse("clusters:edit", args=["east"])),
            ("get", reverse("clusters:delete", args=["east"])),
            ("get", reverse("clusters:nodepool_create", args=["east"])),
            ("get", reverse("clusters:nodepool_edit", args=["east", "cpu"])),
            ("get", reverse("clusters:nodepool_delete", args=["east", "cpu"])),
            ("post", reverse("clusters:node_add", args=["east", "cpu"])),
            ("post", reverse("clusters:node_delete", args=["east", "cpu", node])),
        ],
        "models": [
            ("get", reverse("models:upload")),
            ("get", reverse("models:delete", args=["sentiment"])),
        ],
        "deploy": [
            ("get", reverse("deployments:create")),
            ("get", reverse("deployments:edit", args=["dep"])),
            ("get", reverse("deployments:delete", args=["dep"])),
        ],
        "predict": [("post", reverse("models:predict", args=["sentiment"]))],
        "members": [
            ("post", reverse("accounts:members", args=["acme"])),
            ("post", reverse("accounts:organization_settings", args=["acme"])),
            ("post", reverse("accounts:member_role", args=["acme", "team-viewer"])),
            ("post", reverse("accounts:member_remove", args=["acme", "team-owner"])),
        ],
    }


ALLOWED = {
    "compute": {"owner", "admin"},
    "models": {"owner", "admin"},
    "deploy": {"owner", "admin", "member"},
    "predict": {"owner", "admin", "member"},
    "members": {"owner"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perm", list(ALLOWED))
def test_doing_things_by_role(acme, role, perm):
    client = acme.client(role)
    for method, url in _writes(acme)[perm]:
        status = getattr(client, method)(url).status_code
        if role in ALLOWED[perm]:
            assert status not in (403, 404), (role, method, url, status)
        else:
            assert status == 403, (role, method, url, status)


@pytest.mark.parametrize("perm", list(ALLOWED))
def test_an_outsider_cannot_reach_any_of_it(acme, perm):
    client = acme.client("outsider")
    for method, url in _writes(acme)[perm]:
        if url in (reverse("clusters:create"), reverse("models:upload")):
            continue  # pages of their own space
        if url == reverse("deployments:create"):
            continue
        assert getattr(client, method)(url).status_code == 404, (method, url)
    assert Deployment.objects.filter(owner=acme.account).count() == 1


def test_viewers_predict_when_the_organization_allows(acme):
    client = acme.client("viewer")
    url = reverse("models:predict", args=["sentiment"])
    assert client.post(url).status_code == 403
    acme.organization.viewers_can_predict = True
    acme.organization.save()
    assert client.post(url).status_code == 200


def test_an_outsider_cannot_switch_into_the_organization(acme):
    client = acme.client("outsider")
    assert client.post("/account/space/", {"space": "acme"}).status_code == 404
    assert "acme" not in client.get("/").content.decode()


def test_a_member_deploys_into_the_organization(acme, queued):
    data = {
        "slug": "team-dep",
        "description": "",
        "model": "sentiment",
        "model_version": acme.objects["version"].version_id,
        "cluster": "east",
        "nodepool": "cpu",
        **{name: str(value) for name, value in AUTOSCALE_DEFAULTS.items()},
    }
    acme.objects["deployment"].delete()  # one deployment per model per nodepool
    response = acme.client("member").post(reverse("deployments:create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    deployment = Deployment.objects.get(slug="team-dep")
    assert deployment.owner == acme.account
    event = Event.objects.get(action="deployed")
    assert event.actor_name == "team-member" and event.target == "team-dep"
    # The viewer sees it; the outsider does not, even with the same id.
    assert acme.client("viewer").get(deployment.get_absolute_url()).status_code == 200
    assert acme.client("outsider").get(deployment.get_absolute_url()).status_code == 404
    body = acme.client("owner").get(reverse("accounts:activity", args=["acme"])).content.decode()
    assert "team-member" in body and "team-dep" in body


def test_the_header_offers_each_space(acme):
    body = acme.client("member").get("/").content.decode()
    assert 'value="team-member"' in body and 'value="acme" selected' in body
    assert "Acme ML · member" in body


def test_switching_back_to_personal(acme):
    client = acme.client("member")
    assert client.post("/account/space/", {"space": "me"}).status_code == 302
    assert ">sentiment<" not in client.get("/models/").content.decode()


def test_a_removed_member_falls_back_to_personal(acme):
    from orchestration.accounts import org_actions
    from orchestration.accounts.access import organization_space

    client = acme.client("member")
    owner_space = organization_space(acme.users["owner"], acme.organization)
    org_actions.remove_member(owner_space, username="team-member")
    assert client.get("/models/").status_code == 200
    assert ">sentiment<" not in client.get("/models/").content.decode()
    assert client.get(reverse("deployments:detail", args=["dep"])).status_code == 404


def test_members_page_adds_a_member_and_shows_refusals(acme, other_user):
    client = acme.client("owner")
    url = reverse("accounts:members", args=["acme"])
    response = client.post(url, {"who": "nobody", "role": "member"})
    assert response.status_code == 400
    assert "No user with the username or e-mail address" in response.content.decode()
    response = client.post(url, {"who": "other@example.com", "role": "viewer"})
    assert response.status_code == 302
    assert "other" in client.get(url).content.decode()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_revoke_the_organizations_keys(acme, role):
    from orchestration.accounts.actions import issue_token

    token, _ = issue_token(acme.users["member"], "ci", organization=acme.organization)
    client = acme.client(role)
    assert "ci" in client.get(reverse("accounts:members", args=["acme"])).content.decode()
    response = client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("role", ["member", "viewer", "outsider"])
def test_others_cannot_revoke_a_members_key(acme, role):
    from orchestration.accounts.actions import issue_token

    token, _ = issue_token(acme.users["admin"], "ci", organization=acme.organization)
    response = acme.client(role).post(reverse("accounts:revoke_token", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_page_makes_a_scoped_key(acme):
    client = acme.client("viewer")
    response = client.post(reverse("accounts:tokens"), {"name": "sdk", "organization": "acme"})
    assert response.status_code == 302
    token = acme.users["viewer"].access_tokens.get()
    assert token.organization == acme.organization
    assert "acme" in client.get(reverse("accounts:tokens")).content.decode()
    # A forged scope (an organization the user is not in) is not a choice.
    client = acme.client("outsider")
    response = client.post(reverse("accounts:tokens"), {"name": "x", "organization": "acme"})
    assert response.status_code == 200
    assert not acme.users["outsider"].access_tokens.exists()


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("owner", {"Delete", "Upload a new version", "Predict"}),
        ("admin", {"Delete", "Upload a new version", "Predict"}),
        ("member", {"Predict"}),
        ("viewer", set()),
    ],
)
def test_pages_leave_out_what_the_role_would_be_refused(acme, role, shown):
    body = acme.client(role).get(reverse("models:detail", args=["sentiment"])).content.decode()
    for label in ("Delete", "Upload a new version", "Predict"):
        assert (f">{label}</" in body) == (label in shown), (role, label)
    if role == "viewer":
        assert "cannot send predictions" in body
    snippet = 'user_id="acme"'
    assert snippet in body
    deployment = acme.client(role).get(reverse("deployments:detail", args=["dep"])).content
    assert (b">Edit</a>" in deployment) == (role != "viewer")


@pytest.mark.parametrize("role", ROLES)
def test_only_owners_see_cost_figures(acme, role):
    client = acme.client(role)
    pages = [
        reverse("deployments:list"),
        reverse("deployments:detail", args=["dep"]),
        reverse("clusters:nodepool", args=["east", "cpu"]),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        shown = "Cost (month)" in body or 'id="cost"' in body or "Cost (24 h)" in body
        assert shown == (role == "owner"), (role, url)
    sorted_page = client.get(reverse("deployments:list"), {"sort": "-cost"}).content.decode()
    assert ("Cost (month)" in sorted_page) == (role == "owner")
