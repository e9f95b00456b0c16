"""django-ninja auth classes: `Authorization: Key <token>`, or the browser session with CSRF."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyHeader
from ninja.security.apikey import APIKeyCookie

from orchestration.accounts.access import organization_space, personal_space
from orchestration.accounts.auth import (
    has_authorization_header,
    key_from_request,
    token_from_key,
    user_from_request,
)


class KeyAuth(APIKeyHeader):
    """`Authorization: Key <personal access token>`."""

    param_name = "Authorization"
    openapi_description = (
        "A personal access token from the portal's API keys page, sent as "
        "`Authorization: Key <token>`."
    )

    def authenticate(self, request: HttpRequest, key: str | None):
        if not key:
            return None
        token = token_from_key(key_from_request(request))
        if token is None:
            return None
        user = token.user
        if token.organization_id is None:
            space = personal_space(user)
        else:
            # A scoped key acts in its organization only; a former member's key is dead.
            space = organization_space(user, token.organization)
            if space is None:
                return None
        request.user = user
        request.space = space
        request.key_scope = token.organization_id
        return user


class SessionAuth(APIKeyCookie):
    """The portal's login session; unsafe methods need the CSRF token (`X-CSRFToken`)."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = (
        "The portal's login session cookie; POST, PUT, PATCH and DELETE also need the "
        "`X-CSRFToken` header."
    )

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        # A request that names a key is judged by the key alone.
        if has_authorization_header(request):
            return None
        # CSRF protects a logged-in browser; a caller with no session has nothing to
        # protect and must hear 401 (how to authenticate), not 403 "CSRF check Failed".
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        if not key:
            return None
        return user_from_request(request, allow_session=True)


AUTH = [KeyAuth(), SessionAuth()]
