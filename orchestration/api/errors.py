"""Every API error is JSON of one shape: `{"detail": "...", "errors": [{"field", "message"}]}`.

- 400: the request is wrong. Schema violations (django-ninja/pydantic) and model rules
  (`full_clean()`) alike; `field` is the dotted path of the wrong input, such as
  `autoscale_config.max_replicas`, or null when no single field is at fault.
- 401: no key, or an unknown or revoked key.
- 403: the object is visible but read-only (the shared compute), or a session call without
  its CSRF token.
- 404: unknown id, or another user's object (the API never says which).
- 405: method not allowed; 409: a conflict (duplicate id, one deployment per model per
  nodepool, an object still in use); 413: upload too large; 429: too many requests for the
  key (`Retry-After` says when to retry); 500: a bug, logged, no traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from orchestration.errors import ActionError
from orchestration.jsonsafe import JSONError

log = logging.getLogger("orchestration.api")


class ErrorItem(Schema):
    field: str | None = None
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[ErrorItem]


STATUS_TEXT = {
    400: "Invalid request: `errors` lists each wrong field (dotted path) and why.",
    401: "No key, or an unknown or revoked key: send `Authorization: Key <token>`.",
    403: "Read-only object (the shared compute), or a session request without its CSRF token.",
    404: "No such object, or it belongs to another user.",
    405: "Method not allowed on this path.",
    409: "Conflict: the id is taken, the model already has a deployment on this nodepool, "
    "or the object is still in use.",
    413: "The upload is larger than the server accepts.",
    429: "Too many requests for this key: wait for the seconds in `Retry-After`.",
    500: "Server error (logged); the body never carries a traceback.",
}


class ApiError(Exception):
    """Raised by operations: becomes `status` with the error body."""

    def __init__(self, status: int, message: str, field: str | None = None, errors=None):
        self.status = status
        self.message = message
        self.errors = errors if errors is not None else [{"field": field, "message": message}]
        super().__init__(status, message)


def from_action(exc: ActionError, field_map: dict[str, str] | None = None) -> ApiError:
    """An action's refusal as the API's error: its status, fields renamed to API paths
    (a model field or constraint name -> the dotted input path), the API's wording."""
    field_map = field_map or {}
    errors = []
    for item in exc.errors:
        field = item["field"]
        # A model's clean() error belongs to no field: the map may name one by its text.
        field = field_map.get(field, field) if field else field_map.get(item["message"])
        errors.append({"field": field, "message": item.get("detail", item["message"])})
    return ApiError(exc.status, errors[0]["message"], errors=errors)


@contextmanager
def action_errors(field_map: dict[str, str] | None = None) -> Iterator[None]:
    """Run an action; its ``ActionError`` becomes an ``ApiError`` (a JSON 4xx)."""
    try:
        yield
    except ActionError as exc:
        raise from_action(exc, field_map) from None


def not_found(what: str, ident: str, field: str | None = None) -> ApiError:
    return ApiError(404, f"No {what} with id {ident!r}.", field=field)


def error_body(status: int, errors: Iterable[dict], detail: str | None = None) -> dict:
    errors = list(errors) or [{"field": None, "message": STATUS_TEXT.get(status, "Error")}]
    if detail is None:
        first = errors[0]
        detail = f"{first['field']}: {first['message']}" if first.get("field") else first["message"]
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
    return {"detail": detail, "errors": errors}


def json_error(
    status: int, message: str, field: str | None = None, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse(
        error_body(status, [{"field": field, "message": message}]), status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# --- mapping validation errors to fields -------------------------------------------------

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _clean_pydantic_message(message: str) -> str:
    for prefix in _PYDANTIC_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def ninja_errors_to_items(errors: list[dict]) -> list[dict]:
    """django-ninja's `[{"loc": ["body", "payload", "a", "b"], "msg": ...}]` -> field items."""
    items = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        source = loc[0] if loc else ""
        rest = loc[1:]
        if source in ("body", "form", "file") and rest:
            # The first part names the operation's parameter (payload), not an input field;
            # a lone File()/Form() parameter's name (archive) is the input field itself.
            rest = rest[1:] if len(rest) > 1 or source == "body" else rest
        field = ".".join(rest) or (None if source == "body" else source or None)
        message = _clean_pydantic_message(str(error.get("msg", "Invalid value")))
        if error.get("type") == "missing":
            message = "This field is required."
        items.append({"field": field, "message": message})
    return items


def django_errors_to_items(
    exc: DjangoValidationError, field_map: dict[str, str] | None = None
) -> list[dict]:
    """full_clean()'s errors, renamed from model fields to API fields."""
    field_map = field_map or {}
    items = []
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            if name == NON_FIELD_ERRORS:
                for message in errors:
                    items.append({"field": field_map.get(message), "message": message})
                continue
            api_name = field_map.get(name, name)
            for message in errors:
                items.append({"field": api_name, "message": message})
    else:
        items = [{"field": None, "message": message} for message in exc.messages]
    return items


# --- handlers installed on the NinjaAPI -------------------------------------------------


def install_handlers(api) -> None:
    def respond(request: HttpRequest, status: int, errors: list[dict], headers=None):
        response = api.create_response(request, error_body(status, errors), status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError) -> HttpResponse:
        return respond(request, exc.status, exc.errors)

    @api.exception_handler(ActionError)
    def _action_error(request, exc: ActionError) -> HttpResponse:
        return respond(request, exc.status, from_action(exc).errors)

    @api.exception_handler(NinjaValidationError)
    def _validation(request, exc: NinjaValidationError) -> HttpResponse:
        return respond(request, 400, ninja_errors_to_items(exc.errors))

    @api.exception_handler(DjangoValidationError)
    def _django_validation(request, exc: DjangoValidationError) -> HttpResponse:
        return respond(request, 400, django_errors_to_items(exc))

    @api.exception_handler(AuthenticationError)
    def _unauthorized(request, exc: AuthenticationError) -> HttpResponse:
        message = (
            "Authentication required: send `Authorization: Key <token>` "
            "(create a token on the portal's API keys page)."
        )
        return respond(
            request, 401, [{"field": None, "message": message}], {"WWW-Authenticate": "Key"}
        )

    @api.exception_handler(Throttled)
    def _throttled(request, exc: Throttled) -> HttpResponse:
        from orchestration import ratelimit

        wait = exc.wait or 1.0
        limiter = ratelimit.limiter("api")
        message = (
            f"Too many requests: this key may make {limiter.rate:g} requests per second "
            f"(bursts of {limiter.burst:g}); retry in {wait:.2f} s."
        )
        return respond(
            request,
            429,
            [{"field": None, "message": message}],
            {"Retry-After": ratelimit.retry_after(wait)},
        )

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError) -> HttpResponse:
        message = str(exc)
        if isinstance(exc.__cause__, JSONError):
            # ninja's parser wrapper says only "Cannot parse request body": say why.
            message = f"Cannot parse request body: {exc.__cause__}"
        return respond(request, exc.status_code, [{"field": None, "message": message}])

    @api.exception_handler(Http404)
    def _not_found(request, exc: Http404) -> HttpResponse:
        return respond(request, 404, [{"field": None, "message": "Not found."}])

    @api.exception_handler(ObjectDoesNotExist)
    def _does_not_exist(request, exc: ObjectDoesNotExist) -> HttpResponse:
        return respond(request, 404, [{"field": None, "message": "Not found."}])

    @api.exception_handler(IntegrityError)
    def _integrity(request, exc: IntegrityError) -> HttpResponse:
        log.info("integrity error on %s %s: %s", request.method, request.path, exc)
        message = "The request conflicts with an existing object."
        return respond(request, 409, [{"field": None, "message": message}])

    @api.exception_handler(ProtectedError)
    def _protected(request, exc: ProtectedError) -> HttpResponse:
        message = "Still in use: delete what depends on it (its deployments) first."
        return respond(request, 409, [{"field": None, "message": message}])

    @api.exception_handler(RestrictedError)
    def _restricted(request, exc: RestrictedError) -> HttpResponse:
        message = "Still in use: delete what depends on it first."
        return respond(request, 409, [{"field": None, "message": message}])

    @api.exception_handler(DataError)
    def _data_error(request, exc: DataError) -> HttpResponse:
        log.info("data error on %s %s: %s", request.method, request.path, exc)
        message = "A value is out of range or not storable."
        return respond(request, 400, [{"field": None, "message": message}])

    @api.exception_handler(Exception)
    def _unexpected(request, exc: Exception) -> HttpResponse:
        log.exception("API error on %s %s", request.method, request.path)
        message = "Internal server error; it has been logged."
        return respond(request, 500, [{"field": None, "message": message}])
