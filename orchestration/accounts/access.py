"""Who may see and do what, in one place: the portal, the management API, the predict
paths (HTTP and gRPC) and the CLI through the API all ask here.

A *space* is where objects live: a user's personal space, or an organization (whose
objects are owned by its account row). Acting in a space, a user has a role: the owner
of their personal space, or their membership's role in an organization; a user outside
an organization has no space there at all, so lookups answer "not found" and nothing of
it is revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import PermissionDenied

from orchestration.accounts.models import Membership, Organization, Role


class Perm(StrEnum):
    VIEW = "view"  # read every object of the space
    PREDICT = "predict"
    DEPLOY = "deploy"  # create, change and delete deployments
    COMPUTE = "compute"  # clusters, nodepools, nodes
    MODELS = "models"  # upload and delete models
    KEYS = "keys"  # see and revoke every key scoped to the organization
    MEMBERS = "members"  # invite, change roles, remove; settings of the organization
    BILLING = "billing"  # cost figures


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: frozenset(
        {Perm.VIEW, Perm.PREDICT, Perm.DEPLOY, Perm.COMPUTE, Perm.MODELS, Perm.KEYS}
    ),
    Role.MEMBER: frozenset({Perm.VIEW, Perm.PREDICT, Perm.DEPLOY}),
    Role.VIEWER: frozenset({Perm.VIEW}),
}

DENIED = {
    Perm.VIEW: "You cannot see this organization's objects.",
    Perm.PREDICT: "Your role in this organization cannot send predictions.",
    Perm.DEPLOY: "Your role in this organization cannot deploy or change deployments.",
    Perm.COMPUTE: "Only the organization's owners and admins manage its compute.",
    Perm.MODELS: "Only the organization's owners and admins upload or delete its models.",
    Perm.KEYS: "Only the organization's owners and admins manage every key of it.",
    Perm.MEMBERS: "Only the organization's owners manage its members and settings.",
    Perm.BILLING: "Only the organization's owners see its cost figures.",
}


def permissions(role: str, organization: Organization | None = None) -> frozenset[Perm]:
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    if role == Role.VIEWER and organization is not None and organization.viewers_can_predict:
        granted = granted | {Perm.PREDICT}
    return granted


@dataclass(frozen=True)
class Space:
    """Where a request acts: ``account`` owns the objects, ``user`` acts with ``role``."""

    account: object  # the owner row (a user, or an organization's account)
    user: object
    role: str
    organization: Organization | None = None

    @property
    def is_personal(self) -> bool:
        return self.organization is None

    @property
    def slug(self) -> str:
        return self.account.username

    @property
    def label(self) -> str:
        return "Personal" if self.is_personal else self.organization.name or self.slug

    def can(self, perm: Perm) -> bool:
        return perm in permissions(self.role, self.organization)

    def require(self, perm: Perm) -> None:
        """Refuse (403) what the role may not do; the caller can already see the space."""
        if not self.can(perm):
            raise PermissionDenied(DENIED[perm])


def personal_space(user) -> Space:
    return Space(account=user, user=user, role=Role.OWNER)


def _space_in(user, organization: Organization, role: str) -> Space:
    return Space(account=organization.account, user=user, role=role, organization=organization)


def _memberships(user):
    return Membership.objects.filter(user=user).select_related("organization__account")


def organization_space(user, organization: Organization) -> Space | None:
    """The user's space in the organization, or None when they are not a member."""
    membership = (
        Membership.objects.filter(organization=organization, user=user).only("role").first()
    )
    return _space_in(user, organization, membership.role) if membership else None


def space_named(user, user_id: str | None, *, scope_id: int | None = None) -> Space | None:
    """The space a Clarifai ``user_id`` names for this user: ``me``, empty or their own
    username is their personal space; an organization's id is that organization when
    they belong to it. None when it names nothing they may see. A key scoped to an
    organization (``scope_id``, its account's pk) reaches that organization only."""
    if user_id in (None, "", "me", user.username):
        return personal_space(user) if scope_id is None else None
    membership = _memberships(user).filter(organization__account__username=user_id).first()
    if membership is None or (scope_id is not None and membership.organization_id != scope_id):
        return None
    return _space_in(user, membership.organization, membership.role)


def space_by_account(user, account_id: int | None) -> Space | None:
    """The space of this owner account (the user's own, or an organization they are in)."""
    if account_id is None or account_id == user.pk:
        return personal_space(user)
    membership = _memberships(user).filter(organization_id=account_id).first()
    return _space_in(user, membership.organization, membership.role) if membership else None


def spaces_for(user) -> list[Space]:
    """The user's personal space, then each organization they belong to, by id."""
    members = (_space_in(user, m.organization, m.role) for m in _memberships(user))
    return [personal_space(user), *sorted(members, key=lambda space: space.slug)]
