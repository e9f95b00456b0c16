"""Long portal lists in pages of ``PORTAL_PAGE_SIZE``, chosen by ``?page=``."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.http import HttpRequest


def page_of(request: HttpRequest, object_list) -> Page:
    """The requested page; a missing, malformed or out-of-range ``?page=`` gives the
    nearest real page rather than an error, as a bookmark to a shrunken list should."""
    paginator = Paginator(object_list, settings.PORTAL_PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))
