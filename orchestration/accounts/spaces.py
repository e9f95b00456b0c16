"""The portal's current space: chosen with the header's switcher, kept in the session.

``SpaceMiddleware`` sets ``request.space`` (an ``access.Space``, looked up on first use);
the ``spaces`` context processor gives the header its choices.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from orchestration.accounts.access import Space, personal_space, space_by_account, spaces_for

SESSION_KEY = "space"


def current_space(request: HttpRequest) -> Space | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    account_id = request.session.get(SESSION_KEY)
    space = space_by_account(user, account_id) if account_id else None
    if space is None:
        # No choice yet, or the user left (was removed from) that organization.
        request.session.pop(SESSION_KEY, None)
        space = personal_space(user)
    return space


def choose_space(request: HttpRequest, space: Space) -> None:
    if space.is_personal:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = space.account.pk


class SpaceMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        request.space = SimpleLazyObject(lambda: current_space(request))
        return self.get_response(request)


def spaces(request: HttpRequest) -> dict:
    """The header's switcher: only computed when a page renders it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"spaces": SimpleLazyObject(lambda: spaces_for(user)), "space": request.space}
