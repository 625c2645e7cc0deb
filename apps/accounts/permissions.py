"""Who may read the OpenAPI schema and its documentation pages."""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import BasePermission


class SchemaAccess(BasePermission):
    """Anyone when settings.API_SCHEMA_PUBLIC, otherwise signed-in callers.

    Read per request (not at import), so the setting and test overrides apply at once.
    """

    def has_permission(self, request, view) -> bool:
        return settings.API_SCHEMA_PUBLIC or bool(request.user and request.user.is_authenticated)
