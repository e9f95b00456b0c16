"""Access token operations: issue (the plain token is returned once) and revoke."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from orchestration.accounts import events, signals
from orchestration.accounts.models import AccessToken, Membership
from orchestration.db import after_commit
from orchestration.errors import Invalid


def issue_token(user, name: str, organization=None) -> tuple[AccessToken, str]:
    """A new named token for the user, with its plain text (only its hash is stored).

    With ``organization`` the key acts in that organization only, with the user's role
    there; any member may make one (the role limits what it does)."""
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the token a name.", field="name")
    if (
        organization is not None
        and not Membership.objects.filter(organization=organization, user=user).exists()
    ):
        raise Invalid("You are not a member of this organization.", field="organization")
    token, plain = AccessToken.issue(user, name, organization=organization)
    if organization is not None:
        events.record(organization, user, "made a key", name)
    return token, plain


def revoke_tokens(tokens) -> int:
    """Revoke the active tokens of a queryset at once; routers forget them after commit."""
    active = tokens.filter(revoked_at__isnull=True)
    hashes = list(active.values_list("token_hash", flat=True))
    revoked = active.update(revoked_at=timezone.now())
    if hashes:
        after_commit(
            "announce revoked keys",
            lambda: signals.keys_revoked.send(sender=AccessToken, token_hashes=hashes),
        )
    return revoked


def revoke_token(token: AccessToken, actor=None) -> bool:
    """Revoke the token (False when it already was); routers forget it at once."""
    with transaction.atomic():
        revoked = AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db(fields=["revoked_at"])
        if revoked:
            # After commit: a router that re-checks the key at once must see it revoked.
            hashes = [token.token_hash]
            after_commit(
                "announce a revoked key",
                lambda: signals.keys_revoked.send(sender=AccessToken, token_hashes=hashes),
            )
            if token.organization_id:
                events.record(token.organization, actor or token.user, "revoked a key", token.name)
    return bool(revoked)
