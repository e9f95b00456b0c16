"""Database helpers every app shares: owner querysets, model validation as action
errors, and queueing work once the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction

from orchestration.errors import Blocked, Conflict, Invalid

log = logging.getLogger("orchestration")


class OwnedQuerySet(models.QuerySet):
    """``owned_by(user)`` for models with an ``owner`` (override ``owner_field`` else)."""

    owner_field = "owner"

    def owned_by(self, user):
        return self.filter(**{self.owner_field: user})


def after_commit(description: str, func: Callable[[], object]) -> None:
    """Run ``func`` once the transaction commits (at once outside one); a failure (the
    broker down) is logged, not raised: the periodic tasks cover what it missed."""

    def run() -> None:
        try:
            func()
        except Exception:
            log.exception("could not %s", description)

    transaction.on_commit(run)


def _items(exc: DjangoValidationError) -> list[dict]:
    if not hasattr(exc, "error_dict"):
        return [{"field": None, "message": m} for m in exc.messages]
    return [
        {"field": None if name == NON_FIELD_ERRORS else name, "message": message}
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


def validate_instance(instance: models.Model) -> None:
    """The model's own rules (fields, check and unique constraints) as action errors:
    field rules and check constraints are ``Invalid``, uniqueness a ``Conflict``.

    Each item's ``field`` is the model field, or the constraint's name for a constraint.
    """
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        errors = _items(exc)
        raise Invalid(errors[0]["message"], errors=errors) from None
    errors: list[dict] = []
    conflicts: list[dict] = []
    for constraint in type(instance)._meta.constraints:
        try:
            constraint.validate(type(instance), instance)
        except DjangoValidationError as exc:
            item = {"field": constraint.name, "message": exc.messages[0]}
            is_unique = isinstance(constraint, models.UniqueConstraint)
            (conflicts if is_unique else errors).append(item)
    if errors:
        raise Invalid(errors[0]["message"], errors=errors)
    if conflicts:
        raise Conflict(conflicts[0]["message"], errors=conflicts)


def delete_unless_protected(instance: models.Model, what: str) -> None:
    """Delete the row (and what cascades from it); a ``PROTECT`` foreign key that refuses
    it is one ``Blocked`` error naming what still uses it."""
    try:
        with transaction.atomic():
            instance.delete()
    except models.ProtectedError as exc:
        users = sorted({str(obj) for obj in exc.protected_objects})
        raise Blocked(
            f"{what} still has deployments ({', '.join(users)}): delete them first."
        ) from None
