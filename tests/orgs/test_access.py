"""The role rules (pure) and which space a Clarifai user_id names for a user."""

import pytest

from orchestration.accounts.access import (
    Perm,
    permissions,
    personal_space,
    space_by_account,
    space_named,
    spaces_for,
)
from orchestration.accounts.models import Role

EXPECTED = {
    Role.OWNER: set(Perm),
    Role.ADMIN: {Perm.VIEW, Perm.PREDICT, Perm.DEPLOY, Perm.COMPUTE, Perm.MODELS, Perm.KEYS},
    Role.MEMBER: {Perm.VIEW, Perm.PREDICT, Perm.DEPLOY},
    Role.VIEWER: {Perm.VIEW},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_has_exactly_its_permissions(role):
    assert permissions(role) == EXPECTED[role]


def test_viewers_predict_only_when_the_organization_allows(team):
    team.organization.viewers_can_predict = True
    assert Perm.PREDICT in permissions(Role.VIEWER, team.organization)
    assert Perm.DEPLOY not in permissions(Role.VIEWER, team.organization)


def test_an_unknown_role_may_do_nothing():
    assert permissions("superuser") == frozenset()


def test_a_personal_space_is_its_owners_to_do_everything(owner):
    space = personal_space(owner)
    assert space.is_personal and space.account == owner and space.slug == "owner"
    assert all(space.can(perm) for perm in Perm)


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_members_reach_the_organization_by_its_id(team, role):
    space = space_named(team.users[role], "acme")
    assert space.organization == team.organization and space.role == role
    assert space.account == team.account


def test_me_and_the_own_username_are_the_personal_space(team):
    member = team.users["member"]
    for user_id in (None, "", "me", member.username):
        assert space_named(member, user_id).is_personal


def test_an_outsider_reaches_nothing_of_the_organization(team):
    outsider = team.users["outsider"]
    assert space_named(outsider, "acme") is None
    assert space_by_account(outsider, team.account.pk) is None
    assert [s.slug for s in spaces_for(outsider)] == ["team-outsider"]


def test_another_users_name_is_not_a_space(team):
    assert space_named(team.users["member"], "team-viewer") is None


def test_a_scoped_key_reaches_its_organization_only(team, other_user):
    from orchestration.accounts import org_actions

    member = team.users["member"]
    other = org_actions.create_organization(other_user, slug="other-org")
    org_actions.add_member(other, who=member.username, role="member")
    scope = team.organization.pk
    assert space_named(member, "acme", scope_id=scope).organization == team.organization
    assert space_named(member, "other-org", scope_id=scope) is None
    assert space_named(member, "me", scope_id=scope) is None


def test_spaces_for_lists_personal_first_then_organizations(team):
    spaces = spaces_for(team.users["admin"])
    assert [(s.slug, s.role) for s in spaces] == [("team-admin", "owner"), ("acme", "admin")]
