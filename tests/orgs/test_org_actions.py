"""Organization operations: create, members, roles, leaving; each one logged."""

import pytest

from orchestration.accounts import actions as token_actions
from orchestration.accounts import org_actions
from orchestration.accounts.access import organization_space
from orchestration.accounts.auth import user_from_key
from orchestration.accounts.models import AccessToken, Event, Membership, Organization
from orchestration.errors import Conflict, Forbidden, Invalid, NotFound


def _space(team, role):
    return organization_space(team.users[role], team.organization)


def test_creating_makes_a_non_login_account_and_an_owner(owner):
    space = org_actions.create_organization(owner, slug="labs", name="The Labs")
    account = space.account
    assert account.username == "labs" and not account.is_active
    assert not account.has_usable_password()
    assert Membership.objects.get(organization=space.organization).user == owner
    assert space.role == "owner"
    assert Event.objects.filter(organization=space.organization, action__contains="created")


@pytest.mark.parametrize("slug", ["", "Has Caps", "-dash", "a" * 65, "me", "x/y"])
def test_a_bad_id_is_refused_naming_the_field(owner, slug):
    with pytest.raises(Invalid) as exc:
        org_actions.create_organization(owner, slug=slug)
    assert exc.value.field == "slug"
    assert not Organization.objects.exists()


def test_an_id_shares_the_usernames_namespace(owner, other_user):
    with pytest.raises(Conflict):
        org_actions.create_organization(owner, slug="other")
    org_actions.create_organization(owner, slug="labs")
    with pytest.raises(Conflict):
        org_actions.create_organization(other_user, slug="labs")


def test_members_are_added_by_username_or_email(team, other_user):
    space = _space(team, "owner")
    membership = org_actions.add_member(space, who="OTHER@example.com", role="viewer")
    assert membership.user == other_user and membership.role == "viewer"
    with pytest.raises(Conflict):
        org_actions.add_member(space, who="other")
    with pytest.raises(NotFound) as exc:
        org_actions.add_member(space, who="nobody@example.com")
    assert "nobody@example.com" in exc.value.message
    with pytest.raises(Invalid):
        org_actions.add_member(space, who="other", role="god")
    # An organization is not a person who can be added.
    org_actions.create_organization(other_user, slug="labs")
    with pytest.raises(NotFound):
        org_actions.add_member(space, who="labs")


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_only_owners_manage_members(team, other_user, role):
    space = _space(team, role)
    with pytest.raises(Forbidden):
        org_actions.add_member(space, who="other")
    with pytest.raises(Forbidden):
        org_actions.change_role(space, username="team-viewer", role="admin")
    with pytest.raises(Forbidden):
        org_actions.remove_member(space, username="team-owner")
    with pytest.raises(Forbidden):
        org_actions.update_organization(space, viewers_can_predict=True)


def test_the_last_owner_stays(team):
    space = _space(team, "owner")
    with pytest.raises(Conflict):
        org_actions.change_role(space, username="team-owner", role="admin")
    with pytest.raises(Conflict):
        org_actions.remove_member(space, username="team-owner")
    org_actions.change_role(space, username="team-admin", role="owner")
    org_actions.change_role(space, username="team-owner", role="member")
    assert Membership.objects.get(user=team.users["owner"]).role == "member"


def test_removing_a_member_revokes_their_keys_for_it_only(team):
    member = team.users["member"]
    _, scoped = token_actions.issue_token(member, "ci", organization=team.organization)
    _, personal = token_actions.issue_token(member, "laptop")
    assert user_from_key(scoped) == member
    revoked = org_actions.remove_member(_space(team, "owner"), username="team-member")
    assert revoked == 1
    assert user_from_key(scoped) is None
    assert user_from_key(personal) == member
    event = Event.objects.filter(action="removed a member").get()
    assert event.target == "team-member" and "1 key" in event.detail
    assert event.actor_name == "team-owner"


def test_a_member_may_leave(team):
    org_actions.remove_member(_space(team, "viewer"), username="team-viewer")
    assert not Membership.objects.filter(user=team.users["viewer"]).exists()
    assert Event.objects.filter(action="left", target="team-viewer").exists()


def test_only_members_make_keys_scoped_to_it(team):
    with pytest.raises(Invalid):
        token_actions.issue_token(team.users["outsider"], "x", organization=team.organization)
    token, _ = token_actions.issue_token(team.users["viewer"], "x", organization=team.organization)
    assert token.organization == team.organization
    assert Event.objects.filter(action="made a key", actor_name="team-viewer").exists()
    token_actions.revoke_token(token, actor=team.users["admin"])
    assert AccessToken.objects.get(pk=token.pk).revoked_at is not None
    assert Event.objects.filter(action="revoked a key", actor_name="team-admin").exists()


def test_settings_and_role_changes_are_logged(team):
    space = _space(team, "owner")
    org_actions.update_organization(space, name="Acme", viewers_can_predict=True)
    org_actions.change_role(space, username="team-viewer", role="member")
    actions = list(Event.objects.values_list("action", flat=True))
    assert "changed settings" in actions and "changed a role" in actions
    team.organization.refresh_from_db()
    assert team.organization.viewers_can_predict and team.organization.name == "Acme"


def test_compute_and_models_are_logged_with_their_actor(team, make_model):
    from orchestration.catalog.actions import delete_model
    from orchestration.clusters.actions import create_cluster, delete_cluster
    from orchestration.nodepools.actions import create_nodepool, delete_nodepool

    admin = team.users["admin"]
    cluster = create_cluster(owner=team.account, slug="east", actor=admin)
    pool = create_nodepool(cluster=cluster, slug="cpu", actor=admin, memory_bytes=2**30)
    delete_nodepool(pool, actor=admin)
    delete_cluster(cluster, actor=admin)
    model, _ = make_model(team.account, "sentiment")
    delete_model(model, actor=admin)
    logged = list(
        Event.objects.filter(actor_name="team-admin").order_by("pk").values_list("action", "target")
    )
    assert logged == [
        ("created a cluster", "east"),
        ("created a nodepool", "east/cpu"),
        ("deleted a nodepool", "east/cpu"),
        ("deleted a cluster", "east"),
        ("deleted a model", "sentiment"),
    ]


def test_personal_spaces_keep_no_log(owner, make_model):
    from orchestration.clusters.actions import create_cluster

    create_cluster(owner=owner, slug="east", actor=owner)
    assert not Event.objects.exists()
