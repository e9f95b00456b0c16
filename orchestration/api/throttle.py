"""Per-key rate limit of the management API (orchestration.ratelimit's "api" limiter).

django-ninja runs throttles after authentication, so every request counted here has a
caller: a key counts by its digest, a browser session by its user. A refusal raises
ninja's Throttled, which the API answers 429 with Retry-After in its JSON error shape.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from orchestration import ratelimit
from orchestration.accounts.auth import key_from_request
from orchestration.accounts.models import hash_token
from orchestration.metrics.instruments import RATE_LIMITED

# ninja asks wait() without the request: keep the answer per request context.
_wait: ContextVar[float | None] = ContextVar("api_throttle_wait", default=None)


class KeyThrottle(BaseThrottle):
    def allow_request(self, request: HttpRequest) -> bool:
        token = key_from_request(request)
        if token is not None:
            ident = hash_token(token)
        else:
            ident = f"user:{getattr(request.auth, 'pk', '')}"
        wait = ratelimit.limiter("api").check(ident)
        _wait.set(wait)
        if wait is not None:
            RATE_LIMITED.labels("api").inc()
        return wait is None

    def wait(self) -> float | None:
        return _wait.get()
