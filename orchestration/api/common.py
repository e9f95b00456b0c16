"""Helpers shared by the API's routers: error response sets, validation, after-commit tasks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction

from orchestration.api.errors import ApiError, ErrorOut, django_errors_to_items
from orchestration.clusters.models import SLUG_PATTERN

log = logging.getLogger("orchestration.api")

SLUG_RE = re.compile(SLUG_PATTERN)


def responses(ok: dict, *error_codes: int) -> dict:
    """`{200: Out}` plus ErrorOut for each error code (401 and 500 always)."""
    codes = frozenset({401, 500, *error_codes})
    return {**ok, codes: ErrorOut}


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
