"""The answer to a login attempt that django-axes has locked out: 429 with Retry-After."""

from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    seconds = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))
    minutes = max(1, round(seconds / 60))
    page = render(
        request,
        "registration/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
        status=429,
    )
    # The longest wait: the lock ends that long after the last failure, which is now.
    page["Retry-After"] = str(seconds)
    return page
