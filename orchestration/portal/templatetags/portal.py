"""Template helpers shared by the portal pages: form fields, quantities, ages, sorting, pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from django import template
from django.forms import BoundField
from django.utils import timezone

from orchestration.accounts.access import Perm
from orchestration.quantities import format_cpu, format_memory

register = template.Library()


@register.inclusion_tag("inc/field.html")
def field(bound: BoundField, extra_class: str = "") -> dict:
    """A form field with its bound <label>, help text and errors beside it."""
    return {"f": bound, "extra_class": extra_class}


@register.filter
def memory(num_bytes: int | None) -> str:
    """512Mi, 8Gi: the short exact form of a byte count ("" for nothing)."""
    if num_bytes is None or num_bytes == "":
        return ""
    return format_memory(int(num_bytes))


@register.filter
def cpu(cores: Decimal | float | int | None) -> str:
    """CPU cores as 2, 0.5 or 1.25 (a human reads cores more easily than millicores)."""
    if cores is None or cores == "":
        return ""
    text = format(Decimal(str(cores)).normalize(), "f")
    return text if text != "-0" else "0"


@register.filter
def quantity_cpu(cores: Decimal | float | int | None) -> str:
    """CPU cores as Kubernetes writes them (500m), for config-like displays."""
    if cores is None or cores == "":
        return ""
    return format_cpu(float(cores))


@register.filter
def age(value: datetime | timedelta | None) -> str:
    """A short age: 42s, 5m, 3h, 2d."""
    if value is None:
        return ""
    delta = value if isinstance(value, timedelta) else timezone.now() - value
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@register.inclusion_tag("inc/sort_header.html")
def sort_header(label: str, key: str, current: str, url: str, target: str) -> dict:
    """A column header that sorts by ``key``: A–Z first, Z–A when clicked again.

    ``current`` is the active sort (``key`` or ``-key``); the link keeps the choice in
    the URL (real href for no-JS and bookmarks) and htmx swaps ``target`` in place.
    """
    ascending = current == key
    descending = current == f"-{key}"
    next_sort = f"-{key}" if ascending else key
    return {
        "label": label,
        "href": f"{url}?sort={next_sort}",
        "target": target,
        "aria_sort": "ascending" if ascending else "descending" if descending else "none",
        "arrow": "▲" if ascending else "▼" if descending else "",
        "title": "Sort Z–A" if ascending else "Sort A–Z",
    }


@register.inclusion_tag("inc/pagination.html", takes_context=True)
def pagination(context, page) -> dict:
    """Previous / next links for a `Page`, keeping the other query parameters."""
    request = context["request"]

    def url(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return f"{request.path}?{params.urlencode()}"

    return {
        "page": page,
        "previous_url": url(page.previous_page_number()) if page.has_previous() else "",
        "next_url": url(page.next_page_number()) if page.has_next() else "",
    }


@register.filter
def pretty_json(value) -> str:
    """A parsed config shown as indented JSON (keys in their uploaded order)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def can(space, perm: str) -> bool:
    """``{% if space|can:"deploy" %}``: whether the current space's role may do it (the
    views refuse it anyway; the page only leaves out what would be refused)."""
    return bool(space) and space.can(Perm(perm))
