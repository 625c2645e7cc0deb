"""The outermost middleware: no exception leaves Django, and /api/ answers only JSON.

Django turns a view's exception into an error page, but when building that page fails too
(under DEBUG the technical page chokes on a lone surrogate in the data it shows) the exception
escapes the handler: the response is never closed, so `request_finished` never returns the
request's database connection to the pool, and a handful of such requests starve the pool.
Here any exception becomes a plain 500 that cannot fail to render, logged once.

Under /api/ it also replaces Django's HTML error pages (an unmatched route's 404, a 405, a 500)
with the API's error shape (apps.core.api), and refuses a path holding a NUL character, which
PostgreSQL could not even be asked about.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse, JsonResponse
from rest_framework.response import Response as ApiResponse

from .api import SERVER_ERROR, error_body

API_PREFIX = "/api/"
request_logger = logging.getLogger("django.request")

# Django's error pages as the API words them (DRF's wording for the same statuses).
ERRORS = {
    400: ("Bad request.", "bad_request"),
    403: ("You do not have permission to perform this action.", "permission_denied"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    500: (SERVER_ERROR, "server_error"),
}


class ErrorBoundaryMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        refused = refuse_path(request)
        if refused is not None:
            return refused
        try:
            response = self.get_response(request)
        except Exception as exc:
            return escaped(request, exc)
        return as_api_error(request, response)

    def process_exception(self, request, exception):
        """A view raised. Under /api/: the API's 500 straight away, no Django error page.
        Elsewhere: Django's page, but built here, once: should building it fail, every
        middleware layer would otherwise try again, each time with a longer chain of errors
        to show (seconds of CPU), before the exception escapes anyway."""
        if is_api(request):
            return escaped(request, exception)
        try:
            return response_for_exception(request, exception)
        except Exception as failure:
            return escaped(request, failure)

    async def _acall(self, request):
        refused = refuse_path(request)
        if refused is not None:
            return refused
        try:
            response = await self.get_response(request)
        except Exception as exc:
            return escaped(request, exc)
        return as_api_error(request, response)


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def refuse_path(request):
    if is_api(request) and "\x00" in request.path:
        return api_error(400, "The path contains a NUL character.", "invalid_path")
    return None


def escaped(request, exc: Exception):
    request_logger.error("Internal Server Error: %s", request.path, exc_info=exc,
                         extra={"status_code": 500})
    if is_api(request):
        response = api_error(500, SERVER_ERROR, "server_error")
    else:
        response = HttpResponse("Server error.\n", status=500, content_type="text/plain")
    response._has_been_logged = True
    return response


def as_api_error(request, response):
    """Django's own error page for a request under /api/, replaced by the API's shape."""
    if (response.status_code < 400 or not is_api(request) or isinstance(response, ApiResponse)
            or response.get("Content-Type", "").startswith("application/json")):
        return response
    status = response.status_code
    detail, code = ERRORS.get(status, (_phrase(status), "error"))
    replaced = api_error(status, detail, code)
    if response.has_header("Allow"):
        replaced["Allow"] = response["Allow"]
    # Already logged (with its traceback) where it happened: not a second time for the copy.
    replaced._has_been_logged = getattr(response, "_has_been_logged", False)
    return replaced


def api_error(status: int, detail: str, code: str) -> JsonResponse:
    # JsonResponse escapes non-ASCII: whatever it says, the body always encodes. Compact, as
    # DRF renders the same shape.
    return JsonResponse(error_body(detail, code), status=status,
                        json_dumps_params={"separators": (",", ":")})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Error."
