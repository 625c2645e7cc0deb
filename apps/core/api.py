"""API plumbing shared by every app: every error becomes one JSON shape.

The shape of every error body under /api/ (DRF views, Django's own 404/405/500 pages, which
apps.core.middleware replaces, and parser refusals alike):

    {"detail": "<one sentence for a person>", "code": "<machine-readable reason>", ...}

- 400 `invalid`: also each invalid field's name with its messages (`{"title": ["…"]}`; errors
  not tied to one field under `non_field_errors`), as DRF reports them;
- 409 `conflict`: also `status` (the task's or request's current status) and
  `allowed_transitions`;
- anything else (`not_found`, `method_not_allowed`, `not_authenticated`, `permission_denied`,
  `throttled`, `parse_error`, `request_too_large`, `server_error`…): `detail` and `code` only.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .exceptions import Conflict, InvalidInput, PermissionDenied
from .parsers import RequestTooLarge

# Django's own logger for failed requests, so an API 500 is reported where any other is.
request_logger = logging.getLogger("django.request")

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
SERVER_ERROR = "A server error occurred; it has been logged."


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        body = error_body(str(exc), "conflict", **exc.details())
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, PermissionDenied):
        return Response(error_body(str(exc), "permission_denied"),
                        status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, InvalidInput):
        # Shaped as a serializer's errors, so a client reads a service's refusal and a
        # field's refusal the same way.
        exc = exceptions.ValidationError(exc.fields or {NON_FIELD: [str(exc)]})
    # As DRF's handler does, so that every exception it answers has codes.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE), met before a parser's limit when
        # DRF reads the whole body first: too large, as the parsers say it (413).
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return server_error(exc, context)
    response.data = _shaped(exc, response.data)
    return response


def server_error(exc, context) -> Response:
    """An exception nobody expected: logged here once, with its traceback, and answered in
    the API's shape (never Django's HTML page, which under DEBUG can fail on the very data
    that caused the error and escape with the request's database connection)."""
    request = context.get("request")
    path = getattr(request, "path", "")
    request_logger.error("Internal Server Error: %s", path, exc_info=exc,
                         extra={"status_code": 500, "request": getattr(request, "_request", None)})
    set_rollback()
    response = Response(error_body(SERVER_ERROR, "server_error"),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response._has_been_logged = True  # Django's log_response would report it a second time
    return response


def _summary(fields: dict) -> str:
    """One sentence for `detail`: the fields at fault, or the one error not tied to a field."""
    named = [str(name) for name in fields if name != NON_FIELD]
    if named:
        return f"Invalid input: {', '.join(named)}."
    general = fields.get(NON_FIELD)
    if isinstance(general, list) and general and isinstance(general[0], str):
        return str(general[0])
    return "Invalid input."


def _shaped(exc: exceptions.APIException, data) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {NON_FIELD: data}
        return {**fields, **error_body(_summary(fields), "invalid")}
    if isinstance(data, dict) and "detail" in data:
        code = exc.get_codes()
        return error_body(str(data["detail"]), code if isinstance(code, str) else "error",
                          **{k: v for k, v in data.items() if k != "detail"})
    return error_body(str(exc), "error")
