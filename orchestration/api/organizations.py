"""Organizations: the caller's, their members (add, change a role, remove) and activity.

The operations are ``accounts.org_actions``'s, as in the portal; a key scoped to an
organization reaches that organization only.
"""

from __future__ import annotations

from typing import Literal

from ninja import Field, Router, Schema, Status

from orchestration.accounts import org_actions
from orchestration.accounts.access import Space, space_named, spaces_for
from orchestration.accounts.models import Membership
from orchestration.api.common import Converted, is_slug, paginated, responses
from orchestration.api.errors import action_errors, not_found

router = Router(tags=["Organizations"])

RoleName = Literal["owner", "admin", "member", "viewer"]
MEMBER_FIELDS = {"who": "user"}


class OrganizationOut(Schema):
    id: str = Field(description="The organization's id: the user_id clients name it by.")
    name: str
    role: str = Field(description="Your role in it.")
    viewers_can_predict: bool


class MemberIn(Schema):
    user: str = Field(
        min_length=1, max_length=254, pattern=r"\S", description="A username or e-mail address."
    )
    role: RoleName = "member"


class RoleIn(Schema):
    role: RoleName


class MemberOut(Schema):
    username: str
    role: str
    since: str


class EventOut(Schema):
    at: str
    actor: str
    action: str
    target: str
    detail: str


def _organization_out(space: Space) -> dict:
    return {
        "id": space.slug,
        "name": space.organization.name,
        "role": space.role,
        "viewers_can_predict": space.organization.viewers_can_predict,
    }


def _member_out(membership: Membership) -> dict:
    return {
        "username": membership.user.username,
        "role": membership.role,
        "since": membership.created_at.isoformat(),
    }


def _space(request, org_id: str) -> Space:
    """The caller's space in the organization; 404 when they are not in it (or their key
    is scoped to another one)."""
    space = None
    if is_slug(org_id):
        space = space_named(request.auth, org_id, scope_id=getattr(request, "key_scope", None))
    if space is None or space.is_personal:
        raise not_found("organization", org_id)
    return space


@router.get(
    "/organizations/",
    response=responses({200: list[OrganizationOut]}, 400),
    summary="List your organizations",
    description="With your role in each; a key scoped to an organization lists that one.",
)
@paginated
def list_organizations(request):
    scope = getattr(request, "key_scope", None)
    spaces = [
        s
        for s in spaces_for(request.auth)
        if not s.is_personal and (scope is None or s.account.pk == scope)
    ]
    return [_organization_out(s) for s in spaces]


@router.get(
    "/organizations/{org_id}/members/",
    response=responses({200: list[MemberOut]}, 400, 404),
    summary="List an organization's members",
)
@paginated
def list_members(request, org_id: str):
    space = _space(request, org_id)
    memberships = Membership.objects.filter(organization=space.organization).select_related("user")
    return Converted(memberships.order_by("user__username"), _member_out)


@router.post(
    "/organizations/{org_id}/members/",
    response=responses({201: MemberOut}, 400, 403, 404, 409),
    summary="Add a member",
    description="An existing user, by username or e-mail address; owners only.",
)
def add_member(request, org_id: str, payload: MemberIn):
    space = _space(request, org_id)
    with action_errors(MEMBER_FIELDS):
        membership = org_actions.add_member(space, who=payload.user, role=payload.role)
    return Status(201, _member_out(membership))


@router.patch(
    "/organizations/{org_id}/members/{username}/",
    response=responses({200: MemberOut}, 400, 403, 404, 409),
    summary="Change a member's role",
    description="Owners only; an organization keeps at least one owner (409).",
)
def change_role(request, org_id: str, username: str, payload: RoleIn):
    space = _space(request, org_id)
    with action_errors():
        membership = org_actions.change_role(space, username=username, role=payload.role)
    return _member_out(membership)


@router.delete(
    "/organizations/{org_id}/members/{username}/",
    response=responses({204: None}, 403, 404, 409),
    summary="Remove a member (or leave)",
    description=(
        "Owners remove anyone; a member may remove themselves. The keys the member made "
        "for the organization are revoked at once."
    ),
)
def remove_member(request, org_id: str, username: str):
    space = _space(request, org_id)
    with action_errors():
        org_actions.remove_member(space, username=username)
    return Status(204, None)


@router.get(
    "/organizations/{org_id}/events/",
    response=responses({200: list[EventOut]}, 400, 404),
    summary="An organization's activity",
    description="Who did what, newest first.",
)
@paginated
def list_events(request, org_id: str):
    space = _space(request, org_id)
    return Converted(
        space.organization.events.all(),
        lambda e: {
            "at": e.created_at.isoformat(),
            "actor": e.actor_name,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
        },
    )
