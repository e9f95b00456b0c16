"""Helpers shared by the API's routers: error response sets, validation, after-commit tasks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from orchestration.api.errors import ApiError, ErrorOut, django_errors_to_items
from orchestration.clusters.models import SLUG_PATTERN

log = logging.getLogger("orchestration.api")

SLUG_RE = re.compile(SLUG_PATTERN)


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
    """full_clean() as API errors: field rules and check constraints 400, uniqueness 409.

    ``field_map`` renames model fields (and constraint names) to API field paths.
    """
    errors: list[dict] = []
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        errors.extend(django_errors_to_items(exc, field_map))
    if errors:
        raise ApiError(400, errors[0]["message"], errors=errors)
    conflicts: list[dict] = []
    for constraint in type(instance)._meta.constraints:
        try:
            constraint.validate(type(instance), instance)
        except DjangoValidationError as exc:
            item = {"field": field_map.get(constraint.name), "message": exc.messages[0]}
            if isinstance(constraint, models.UniqueConstraint):
                conflicts.append(item)
            else:
                errors.append(item)
    if errors:
        raise ApiError(400, errors[0]["message"], errors=errors)
    if conflicts:
        raise ApiError(409, conflicts[0]["message"], errors=conflicts)


def after_commit(description: str, func: Callable[[], object]) -> None:
    """Run func once the transaction commits; a failure (broker down) is logged, not raised."""

    def run() -> None:
        try:
            func()
        except Exception:
            log.exception("could not %s", description)

    transaction.on_commit(run)


def queue_node_probe(node_pk: int) -> None:
    def send() -> None:
        from orchestration.nodepools.tasks import probe_node

        probe_node.delay(node_pk)

    after_commit(f"queue a probe of node {node_pk}", send)
