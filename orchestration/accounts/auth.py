"""Who is calling: the browser session's user, or the owner of an `Authorization: Key` token.

One helper for every JSON endpoint (the management API, the predict API):

- ``key_from_request(request)`` -> the token text of ``Authorization: Key <token>`` (``Bearer``
  is accepted too), or None when the header is absent or has another scheme.
- ``user_from_key(token)`` -> the active token's user, or None (unknown, revoked, inactive user).
- ``user_from_request(request, allow_session=True)`` -> the caller, or None. A request that
  sends an Authorization header is judged by that header alone: a bad key is a bad key even
  when the browser also has a session.
- ``auser_from_request(request, ...)`` -> the same, for async views.

Session callers of unsafe methods still need CSRF protection; the caller checks it (the
management API's session auth does, through django-ninja).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from orchestration.accounts.models import AccessToken

KEY_SCHEMES = ("key", "bearer")


def key_from_request(request: HttpRequest) -> str | None:
    """The token of `Authorization: Key <token>` (or `Bearer <token>`), else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in KEY_SCHEMES or not token or "\x00" in token:
        return None
    return token


def has_authorization_header(request: HttpRequest) -> bool:
    return bool(request.headers.get("Authorization", "").strip())


def token_from_key(token: str | None) -> AccessToken | None:
    """The active token (with its user), or None."""
    if not token or len(token) > 200:
        return None
    return AccessToken.find(token)


def user_from_key(token: str | None):
    """The user an active token belongs to, or None."""
    found = token_from_key(token)
    return found.user if found else None


def user_from_request(request: HttpRequest, *, allow_session: bool = True):
    """The authenticated caller (key first, then session), or None."""
    if has_authorization_header(request):
        return user_from_key(key_from_request(request))
    if allow_session:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
    return None


async def auser_from_request(request: HttpRequest, *, allow_session: bool = True):
    """user_from_request() for async views."""
    if has_authorization_header(request):
        return await sync_to_async(user_from_key)(key_from_request(request))
    if allow_session:
        auser = getattr(request, "auser", None)
        if auser is not None:
            user = await auser()
            if user.is_authenticated and user.is_active:
                return user
    return None
