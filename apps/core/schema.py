"""The OpenAPI schema tells the truth: every status an operation can answer, and no more.

drf-spectacular documents the success response of each view. Everything else the API answers
comes from layers every view shares (authentication, permissions, throttles, parsers, the
exception handler), so it is documented here once, from what each operation actually has:

- 400 when it takes a body or query parameters (validation names the field);
- 401, 403 and 429 everywhere (a bad bearer token is refused even on open endpoints,
  throttles count every call);
- 404 when the path names an object or the list is paginated (a page past the end);
- 409 on every change (a transition not allowed now, an object still in use);
- 413 and 415 when it takes a body (too large, not JSON).

The post-processing hook then makes request bodies closed objects (every input serializer
refuses unknown fields, see StrictFieldsMixin), and spells paths as the contract does,
without a trailing slash (the routers accept both).
"""

from __future__ import annotations

from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.openapi import AutoSchema as _AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from .filters import IntegerFilter

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: the body names each field that is wrong.",
    "401": "No valid credentials (missing, unknown, expired or revoked token).",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object, or not one the caller may see; or a page past the end.",
    "409": "Not possible in the object's current state; the body says why.",
    "413": "The request body is too large.",
    "415": "The request body is not JSON.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
}


class ErrorSerializer(serializers.Serializer):
    """Every error under /api/ has at least these two members (see apps.core.api)."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(
        help_text="A stable identifier of the kind of error: not_found, not_authenticated, "
                  "permission_denied, throttled, invalid, conflict, parse_error…")


class ValidationErrorSerializer(ErrorSerializer):
    """`code` is `invalid`; beside `detail` and `code`, each wrong field's name maps to its
    messages (or, for a nested object or list, to its errors); errors that belong to no
    single field are under `non_field_errors`."""


class ConflictErrorSerializer(ErrorSerializer):
    """`code` is `conflict`."""

    status = serializers.CharField(allow_null=True, required=False,
                                   help_text="The object's current state, when it has one.")
    held_tasks = serializers.ListField(
        child=serializers.UUIDField(), required=False,
        help_text="Removing a person: the tasks they still hold.")
    allowed_transitions = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="The transitions allowed from the current state.")


class AutoSchema(_AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._error_response(code, direction)
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        takes_body = self.method in ("POST", "PUT", "PATCH") and self._has_request_body()
        codes = ["401", "403", "429"]
        if takes_body or self._has_query_parameters():
            codes.append("400")
        if "{" in self.path or self._is_paginated_list():
            codes.append("404")
        if self.method not in ("GET", "HEAD", "OPTIONS") and not self._is_open():
            codes.append("409")
        if takes_body:
            codes += ["413", "415"]
        return codes

    def _error_response(self, code: str, direction):
        serializer = {"400": ValidationErrorSerializer, "409": ConflictErrorSerializer}.get(
            code, ErrorSerializer)
        response = self._get_response_for_code(serializer, code, direction=direction)
        response["description"] = ERROR_DESCRIPTIONS[code]
        if code == "429":
            response["headers"] = {"Retry-After": {
                "schema": {"type": "integer"}, "description": "Seconds to wait."}}
        return response

    def _has_request_body(self) -> bool:
        return self.get_request_serializer() is not None

    def _has_query_parameters(self) -> bool:
        parameters = self._get_filter_parameters() + self._get_pagination_parameters()
        overrides = [p for p in self._get_parameters() if p.get("in") == "query"]
        return bool(parameters or overrides)

    def _is_paginated_list(self) -> bool:
        return self.method == "GET" and bool(self._get_pagination_parameters())

    def _is_open(self) -> bool:
        """Login-like endpoints: no state of theirs can be in the way."""
        return all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _get_pagination_parameters(self):
        # An action that lists on GET and appends on POST (logs) pages only its GET.
        return super()._get_pagination_parameters() if self.method == "GET" else []

    def _get_paginator(self):
        # Likewise its answer: the lines a POST appended come back as a plain list.
        return super()._get_paginator() if self.method == "GET" else None

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular leaves out the bounds of nested lists; the server enforces them.
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            if not field.allow_empty:
                schema.setdefault("minItems", 1)
            if field.max_length is not None:
                schema.setdefault("maxItems", field.max_length)
        if isinstance(field, serializers.ListField) and not field.allow_empty:
            schema.setdefault("minItems", 1)
        return schema


def close_request_bodies_and_strip_slashes(result, generator, request, public):
    """drf-spectacular post-processing hook (SPECTACULAR_SETTINGS['POSTPROCESSING_HOOKS'])."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component.setdefault("additionalProperties", False)
    result["paths"] = {
        (path.rstrip("/") or "/"): item for path, item in result.get("paths", {}).items()
    }
    return result


class BoundedFilterExtension(DjangoFilterExtension):
    """django-filter parameters as drf-spectacular documents them, plus the bounds our whole
    number filters check (`IntegerFilter(min_value=…, max_value=…)`, every `IdFilter` 1 to
    the largest bigint): without them the schema offered `assignee=0`, which the filter set
    then refused with a 400, and a client built from the schema could not know why."""

    target_class = "apps.core.filters.FilterBackend"
    priority = 1  # before drf-spectacular's own extension, which would also match

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name,
                             filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class,
                                                  field_name, filter_field)
        if isinstance(filter_field, IntegerFilter):
            bounds = {"minimum": filter_field.extra.get("min_value"),
                      "maximum": filter_field.extra.get("max_value")}
            for parameter in parameters:
                parameter["schema"]["type"] = "integer"
                parameter["schema"].update({k: v for k, v in bounds.items() if v is not None})
        return parameters
