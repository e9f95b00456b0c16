"""Helpers shared by the API's routers: error response sets, pagination, validation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import models
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from orchestration import db
from orchestration.accounts.access import DENIED, Perm
from orchestration.api.errors import ApiError, ErrorOut, action_errors
from orchestration.clusters.models import SLUG_PATTERN

SLUG_RE = re.compile(SLUG_PATTERN)


def owner(request):
    """Whose objects the call reads and makes: the key's organization (a scoped key), or
    the caller's own space (a personal key; a session acts in the portal's chosen space)."""
    return request.space.account


def require(request, perm: Perm) -> None:
    """403 for what the caller's role may not do; they already see the object."""
    if not request.space.can(perm):
        raise ApiError(403, DENIED[perm])


def responses(ok: dict, *error_codes: int) -> dict:
    """`{200: Out}` plus ErrorOut for each error code (401, 429 and 500 always)."""
    codes = frozenset({401, 429, 500, *error_codes})
    return {**ok, codes: ErrorOut}


class Converted(Sequence):
    """A queryset read through a converter.

    Pagination slices and counts it in the database, so only the page's rows are
    fetched and converted, whatever the size of the list.
    """

    def __init__(self, queryset: models.QuerySet, convert: Callable[[models.Model], dict]):
        self.queryset = queryset
        self.convert = convert

    def __len__(self) -> int:
        return self.queryset.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.convert(row) for row in self.queryset[index]]
        return self.convert(self.queryset[index])


MAX_OFFSET = 1_000_000_000


class Pagination(LimitOffsetPagination):
    """``?limit=`` and ``?offset=``, both bounded; the answer is ``{"items", "count"}``."""

    class Input(Schema):
        limit: int = Field(
            settings.API_PAGE_SIZE,
            ge=1,
            le=settings.API_MAX_PAGE_SIZE,
            description="How many items to return.",
        )
        # Bounded so a huge offset is a 400, not an overflow in the database.
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many items to skip.")


paginated = paginate(Pagination, max_limit=settings.API_MAX_PAGE_SIZE)


def is_slug(value: str) -> bool:
    return bool(SLUG_RE.fullmatch(value or ""))


def validate_instance(instance: models.Model, field_map: dict[str, str]) -> None:
    """The model's rules as API errors: field rules and check constraints 400, uniqueness
    409. ``field_map`` renames model fields (and constraint names) to API field paths."""
    with action_errors(field_map):
        db.validate_instance(instance)
