"""The predict paths (SPEC.md), once: the lean ASGI app and Django's URLconf both read them.

Plain Python (no Django): each route is a regular expression over the part after `/v2/`,
its named groups the arguments of `views.handle` (`app_id` is accepted and ignored, as
Clarifai's own API scopes models by user and app and this portal by user only).
"""

from __future__ import annotations

import re

_SEG = r"[^/]+"

# Relative to /v2/; a trailing slash is optional, as clients send both.
PATTERNS = (
    rf"models/(?P<model_slug>{_SEG})/outputs/?",
    rf"models/(?P<model_slug>{_SEG})/versions/(?P<version_id>{_SEG})/outputs/?",
    rf"users/(?P<user_id>{_SEG})/apps/(?P<app_id>{_SEG})/models/(?P<model_slug>{_SEG})/outputs/?",
    rf"users/(?P<user_id>{_SEG})/apps/(?P<app_id>{_SEG})/models/(?P<model_slug>{_SEG})"
    rf"/versions/(?P<version_id>{_SEG})/outputs/?",
    rf"users/(?P<user_id>{_SEG})/deployments/(?P<deployment_slug>{_SEG})/outputs/?",
)
# The same places with `/generate` after `outputs`: the model's output as a stream
# (Clarifai's GenerateModelOutputs over HTTP).
GENERATE_PATTERNS = tuple(p.removesuffix("/?") + "/generate/?" for p in PATTERNS)
PREFIX = "/v2/"
_COMPILED = tuple(
    (kind, re.compile(f"^{re.escape(PREFIX)}{pattern}$"))
    for kind, patterns in (("outputs", PATTERNS), ("generate", GENERATE_PATTERNS))
    for pattern in patterns
)


def where(groups: dict[str, str | None]) -> dict[str, str | None]:
    """The arguments a matched route gives the predict handler."""
    return {name: value for name, value in groups.items() if name != "app_id"}


def match(path: str) -> tuple[str, dict] | None:
    """("outputs" or "generate", the handler's arguments) for a full request path, or
    None when no route matches."""
    for kind, pattern in _COMPILED:
        found = pattern.match(path)
        if found:
            return kind, where(found.groupdict())
    return None
