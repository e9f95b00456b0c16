"""Organization operations: create, settings, members (add, change role, remove).

Each takes the acting ``Space`` (``accounts.access``) and checks its permission here, so
the portal, the API and the CLI refuse alike.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from orchestration.accounts import events
from orchestration.accounts.access import DENIED, Perm, Space
from orchestration.accounts.actions import revoke_tokens
from orchestration.accounts.models import AccessToken, Membership, Organization, Role
from orchestration.constants import SLUG_PATTERN, SLUG_RULE
from orchestration.errors import Conflict, Forbidden, Invalid, NotFound

NAME_MAX = 100


def _require(space: Space, perm: Perm) -> Organization:
    if space.organization is None:
        raise Invalid("This is a personal space, not an organization.")
    if not space.can(perm):
        raise Forbidden(DENIED[perm])
    return space.organization


def _check_slug(slug: str) -> str:
    slug = (slug or "").strip()
    if not re.fullmatch(SLUG_PATTERN, slug):
        raise Invalid(SLUG_RULE, field="slug")
    if slug == "me":
        raise Invalid("'me' always means yourself; pick another ID.", field="slug")
    return slug


@transaction.atomic
def create_organization(user, *, slug: str, name: str = "") -> Space:
    """A new organization with ``user`` as its owner. Its id shares the usernames'
    namespace, as Clarifai's ``user_id`` does."""
    slug = _check_slug(slug)
    name = (name or "").strip()[:NAME_MAX] or slug
    User = get_user_model()  # noqa: N806 - the model class, named as Django does
    if User.objects.filter(username__iexact=slug).exists():
        raise Conflict("This ID is taken by a user or an organization.", field="slug")
    try:
        with transaction.atomic():
            account = User(username=slug, is_active=False)
            account.set_unusable_password()
            account.save()
    except IntegrityError:
        raise Conflict("This ID is taken by a user or an organization.", field="slug") from None
    organization = Organization.objects.create(account=account, name=name)
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    events.record(organization, user, "created the organization", slug)
    return Space(account=account, user=user, role=Role.OWNER, organization=organization)


@transaction.atomic
def update_organization(space: Space, *, name: str | None = None, viewers_can_predict=None):
    organization = _require(space, Perm.MEMBERS)
    changes = []
    if name is not None:
        name = name.strip()[:NAME_MAX]
        if not name:
            raise Invalid("Give the organization a name.", field="name")
        if name != organization.name:
            organization.name = name
            changes.append(f"name {name}")
    if viewers_can_predict is not None and viewers_can_predict != organization.viewers_can_predict:
        organization.viewers_can_predict = bool(viewers_can_predict)
        changes.append(f"viewers can predict: {'yes' if viewers_can_predict else 'no'}")
    if changes:
        organization.save(update_fields=["name", "viewers_can_predict"])
        events.record(organization, space.user, "changed settings", "", ", ".join(changes))
    return organization


def _find_user(who: str):
    who = (who or "").strip()
    if not who:
        raise Invalid("Name a user by username or e-mail address.", field="user")
    User = get_user_model()  # noqa: N806
    people = User.objects.filter(is_active=True, organization__isnull=True)
    found = people.filter(username=who).first()
    if found is None and "@" in who:
        matches = list(people.filter(email__iexact=who)[:2])
        found = matches[0] if len(matches) == 1 else None
    if found is None:
        raise NotFound(f"No user with the username or e-mail address {who!r}.", field="user")
    return found


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise Invalid(f"Pick a role: {', '.join(Role.values)}.", field="role")
    return role


@transaction.atomic
def add_member(space: Space, *, who: str, role: str = Role.MEMBER) -> Membership:
    """Add an existing user (by username or e-mail address) with a role."""
    organization = _require(space, Perm.MEMBERS)
    role = _check_role(role)
    user = _find_user(who)
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise Conflict(f"{user.username} is already a member.", field="user")
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    events.record(organization, space.user, "added a member", user.username, f"role {role}")
    return membership


def _get_membership(organization: Organization, username: str) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(organization=organization, user__username=username)
        .first()
    )
    if membership is None:
        raise NotFound(f"{username!r} is not a member.", field="user")
    return membership


def _keep_an_owner(organization: Organization, membership: Membership) -> None:
    owners = Membership.objects.select_for_update().filter(
        organization=organization, role=Role.OWNER
    )
    if membership.role == Role.OWNER and owners.exclude(pk=membership.pk).count() == 0:
        raise Conflict("An organization keeps at least one owner.", field="role")


@transaction.atomic
def change_role(space: Space, *, username: str, role: str) -> Membership:
    organization = _require(space, Perm.MEMBERS)
    role = _check_role(role)
    membership = _get_membership(organization, username)
    if membership.role == role:
        return membership
    if role != Role.OWNER:
        _keep_an_owner(organization, membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    events.record(organization, space.user, "changed a role", username, f"{old} -> {role}")
    return membership


@transaction.atomic
def remove_member(space: Space, *, username: str) -> int:
    """Remove a member (a member may remove themselves: leaving); the keys they made for
    the organization are revoked at once. Returns how many keys were revoked."""
    organization = space.organization
    if organization is None:
        raise Invalid("This is a personal space, not an organization.")
    if username != space.user.username:
        _require(space, Perm.MEMBERS)
    membership = _get_membership(organization, username)
    _keep_an_owner(organization, membership)
    revoked = revoke_tokens(
        AccessToken.objects.filter(user=membership.user, organization=organization)
    )
    membership.delete()
    detail = f"{revoked} key(s) revoked" if revoked else ""
    action = "left" if username == space.user.username else "removed a member"
    events.record(organization, space.user, action, username, detail)
    return revoked
