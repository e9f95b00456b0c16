"""The organizations API: listing, members (add, role, remove) and activity, per role."""

from __future__ import annotations

import pytest

from orchestration.accounts.auth import user_from_key
from tests.api.support import ApiClient

pytestmark = pytest.mark.django_db

MEMBERS = "organizations/acme/members/"


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
@pytest.mark.parametrize("scoped", [True, False])
def test_members_list_it_and_its_members(team, role, scoped):
    api = ApiClient(team.key(role, scoped=scoped))
    assert api.items("organizations/") == [
        {"id": "acme", "name": "Acme ML", "role": role, "viewers_can_predict": False}
    ]
    members = {m["username"]: m["role"] for m in api.items(MEMBERS)}
    assert members == {f"team-{r}": r for r in ("owner", "admin", "member", "viewer")}
    events = api.items("organizations/acme/events/")
    assert events[0]["action"] in ("made a key", "added a member")
    assert events[-1]["action"] == "created the organization"


def test_the_outsider_gets_404_everywhere(team):
    api = ApiClient(team.key("outsider"))
    assert api.items("organizations/") == []
    assert api.get(MEMBERS).status_code == 404
    assert api.get("organizations/acme/events/").status_code == 404
    assert api.post(MEMBERS, {"user": "team-outsider"}).status_code == 404
    assert api.patch(MEMBERS + "team-viewer/", {"role": "owner"}).status_code == 404
    assert api.delete(MEMBERS + "team-viewer/").status_code == 404


def test_a_key_scoped_elsewhere_does_not_reach_it(team, other_user):
    from orchestration.accounts import org_actions
    from orchestration.accounts.actions import issue_token

    other = org_actions.create_organization(other_user, slug="labs")
    org_actions.add_member(other, who="team-member")
    key = issue_token(team.users["member"], "labs", organization=other.organization)[1]
    api = ApiClient(key)
    assert [o["id"] for o in api.items("organizations/")] == ["labs"]
    assert api.get(MEMBERS).status_code == 404


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_owners_change_membership(team, other_user, role):
    api = ApiClient(team.key(role))
    assert api.post(MEMBERS, {"user": "other"}).status_code == 403
    assert api.patch(MEMBERS + "team-owner/", {"role": "viewer"}).status_code == 403
    assert api.delete(MEMBERS + "team-owner/").status_code == 403


def test_owner_adds_changes_and_removes(team, other_user):
    api = ApiClient(team.key("owner"))
    response = api.post(MEMBERS, {"user": "other@example.com", "role": "viewer"})
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "other" and response.json()["role"] == "viewer"
    assert api.post(MEMBERS, {"user": "other"}).status_code == 409
    missing = api.post(MEMBERS, {"user": "nobody"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "user"
    assert api.post(MEMBERS, {"user": "other", "role": "god"}).status_code == 400
    assert api.patch(MEMBERS + "other/", {"role": "admin"}).json()["role"] == "admin"
    last_owner = api.patch(MEMBERS + "team-owner/", {"role": "member"})
    assert last_owner.status_code == 409
    assert "at least one owner" in last_owner.json()["detail"]
    assert api.delete(MEMBERS + "other/").status_code == 204
    assert api.delete(MEMBERS + "other/").status_code == 404


def test_a_member_leaves_and_their_key_dies(team):
    key = team.key("member")
    api = ApiClient(key)
    assert api.delete(MEMBERS + "team-member/").status_code == 204
    assert user_from_key(key) is None
