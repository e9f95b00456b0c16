"""Request body limits, enforced in front of Django's ASGI handler.

Django's ASGI handler reads the whole body (spooling it to a temporary file past
FILE_UPLOAD_MAX_MEMORY_SIZE) before any middleware or view runs, so a limit checked in a
view comes after the disk is already full. This ASGI middleware decides from the headers
alone, before a byte of the body is read:

- a declared ``Content-Length`` over the largest accepted body is a 413;
- a caller with no valid key and no login session may send at most
  ANONYMOUS_MAX_BODY_BYTES (a login form); a larger or chunked body is a 401 unread;
- a chunked body (no ``Content-Length``) is counted as it arrives and cut off with a 413
  at the limit.

API paths answer the management API's JSON error shape; portal paths a short HTML page.
"""

from __future__ import annotations

import html
import json
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie

# Room for the multipart framing and form fields around an archive of UPLOAD_MAX_BYTES.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
# Enough for the login forms; nothing else is open to a caller without credentials.
ANONYMOUS_MAX_BODY_BYTES = 64 * 1024


def max_body_bytes() -> int:
    """The largest request body accepted outside the predict API (an upload)."""
    return settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD_BYTES


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _declared_length(headers: dict[str, str]) -> int | None:
    """Content-Length as an int; None when absent (chunked) or unreadable."""
    raw = headers.get("content-length")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


def _authenticated(headers: dict[str, str]) -> bool:
    """Whether the request carries a valid key, or else a logged-in session (sync: DB)."""
    from django.contrib.auth import get_user

    from orchestration.accounts.auth import KEY_SCHEMES, user_from_key

    authorization = headers.get("authorization", "").strip()
    if authorization:
        # As everywhere else: a request that sends a key is judged by that key alone.
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in KEY_SCHEMES:
            return False
        return user_from_key(token.strip() or None) is not None
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))
    return bool(user.is_authenticated and user.is_active)


async def _respond(scope, send, status: int, message: str, extra_headers=()) -> None:
    if scope["path"].startswith("/api/"):
        from orchestration.api.errors import error_body

        body = json.dumps(error_body(status, [{"field": None, "message": message}])).encode()
        content_type = b"application/json"
    else:
        body = (
            "<!doctype html><title>Request refused</title>"
            f"<h1>Request refused</h1><p>{html.escape(message)}</p>"
            '<p><a href="/">Back to the portal</a></p>'
        ).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        # The unread body stays on the socket: the connection cannot be reused.
        (b"connection", b"close"),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than the server accepts ({limit} bytes; "
        f"an uploaded archive may be at most UPLOAD_MAX_BYTES = {settings.UPLOAD_MAX_BYTES})."
    )


UNAUTHENTICATED = (
    "Authentication required before a request body this large is read: send "
    "`Authorization: Key <token>`, or log in to the portal first."
)


class BodyLimitMiddleware:
    """ASGI middleware around Django's handler; see the module docstring."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        limit = max_body_bytes()
        declared = _declared_length(headers)
        chunked = declared is None and (
            "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" in headers
        )
        if declared is not None and declared > limit:
            await _respond(scope, send, 413, _too_large(limit))
            return
        if (chunked or (declared or 0) > ANONYMOUS_MAX_BODY_BYTES) and not await sync_to_async(
            _authenticated
        )(headers):
            await _respond(scope, send, 401, UNAUTHENTICATED, [(b"www-authenticate", b"Key")])
            return

        received = 0
        cut_off = False
        started = False

        async def limited_receive():
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django treats a disconnect while reading as an aborted request and
                    # answers nothing: the 413 is sent below, once it has returned.
                    cut_off = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if cut_off and not started:
            await _respond(scope, send, 413, _too_large(limit))
