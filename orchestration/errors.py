"""The one exception family of the actions layer (``*/actions.py``).

An action raises an ``ActionError`` subclass; each entry point maps it to its own form:
form errors in the portal, a JSON 4xx in the management API (the class's ``status``), a
Clarifai status on the predict path. ``errors`` lists ``{"field", "message"}`` items whose
``field`` is a model field or constraint name (or None), renamed by each entry point.
"""

from __future__ import annotations


class ActionError(Exception):
    """An operation was refused; ``status`` is the HTTP status the API answers."""

    status = 400

    def __init__(self, message: str, field: str | None = None, errors: list[dict] | None = None):
        self.message = message
        self.field = field
        self.errors = errors if errors is not None else [{"field": field, "message": message}]
        super().__init__(message)


class Invalid(ActionError):
    """The input breaks a rule of the model (a field, a check constraint, a choice)."""

    status = 400


class NotFound(ActionError):
    """A referenced object does not exist, or is not the user's."""

    status = 404


class Forbidden(ActionError):
    """The object is visible but read-only to this user (the shared compute)."""

    status = 403


class Conflict(ActionError):
    """A uniqueness rule or the object's state refuses the operation."""

    status = 409


class Blocked(Conflict):
    """The object is still in use (a ``PROTECT`` foreign key): delete what uses it first."""
