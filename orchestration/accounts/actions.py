"""Access token operations: issue (the plain token is returned once) and revoke."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from orchestration.accounts.models import AccessToken
from orchestration.db import after_commit
from orchestration.errors import Invalid


def issue_token(user, name: str) -> tuple[AccessToken, str]:
    """A new named token for the user, with its plain text (only its hash is stored)."""
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the token a name.", field="name")
    return AccessToken.issue(user, name)


def revoke_token(token: AccessToken) -> bool:
    """Revoke the token (False when it already was); routers forget it at once."""
    # Upward arrow (accounts -> deployments), allowed: routing_state only publishes on
    # Redis (it imports no model); the routers that cache checked keys live above.
    from orchestration.deployments import routing_state

    with transaction.atomic():
        revoked = AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db(fields=["revoked_at"])
        if revoked:
            # After commit: a router that re-checks the key at once must see it revoked.
            token_hash = token.token_hash
            after_commit("publish a revoked key", lambda: routing_state.key_revoked(token_hash))
    return bool(revoked)
