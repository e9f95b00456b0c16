"""The organization event log: one call per thing done, from the actions layer."""

from __future__ import annotations

from orchestration.accounts.models import Event, Organization


def record(owner, actor, action: str, target: str = "", detail: str = "") -> None:
    """Log ``actor`` doing ``action`` on ``target`` when ``owner`` (an owner account, its
    id, or an organization) is an organization; personal spaces keep no log."""
    if isinstance(owner, Organization):
        organization = owner
    else:
        pk = owner if isinstance(owner, int) else getattr(owner, "pk", None)
        organization = Organization.objects.filter(pk=pk).first() if pk else None
    if organization is None:
        return
    Event.objects.create(
        organization=organization,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "username", "") or "system",
        action=action,
        target=str(target)[:200],
        detail=str(detail)[:300],
    )
