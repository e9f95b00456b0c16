"""Partial or full page: one rule for every view that htmx may ask for a fragment.

Each page template includes its fragments with ``{% include %}``, so the same small
template serves the full page (first load, no JavaScript, a bookmarked URL) and the
htmx swap. A view passes the fragment template and the element id it swaps; when htmx
asks for that target it gets the fragment, otherwise the whole page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def htmx_partial(request: HttpRequest, target: str | None = None) -> bool:
    """True when htmx asks to swap a fragment (optionally: the element with id ``target``).

    Boosted requests and history restores (htmx's cache missed after a back button) need
    the whole page, so they are not partial even though they carry HX-Request.
    """
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted or htmx.history_restore_request:
        return False
    return target is None or htmx.target == target


def render_htmx(
    request: HttpRequest,
    template: str,
    fragment: str,
    context: dict[str, Any],
    *,
    target: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``fragment`` for an htmx swap of ``target``, else the full ``template``."""
    name = fragment if htmx_partial(request, target) else template
    response = render(request, name, context, status=status)
    # The same URL answers with a fragment or a page: caches (and the browser's back
    # button after hx-push-url) must not hand one out for the other.
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response
