"""`Authorization: Bearer tmu_…`: an execution unit's own credential.

A unit's token acts for that unit alone, and only where a view says machines may call
(`machine_actions`, the actions a unit uses: its own heartbeat and claims, and reports on the
tasks it holds). Anywhere else the token is refused with a 403, whatever the view's own
permissions say: it is checked here, before any of them run.
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.core.actors import MachinePrincipal

from .selectors import task_types_accepting
from .services import TOKEN_PREFIX, unit_actor, unit_authenticate

KEYWORD = b"bearer"


def unit_token_in(header: bytes) -> str | None:
    """The unit token an Authorization header carries (`Bearer tmu_…`), or None: another
    scheme, a person's token, or bytes no token is made of (the next class refuses those)."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != KEYWORD or not parts[1].startswith(
            TOKEN_PREFIX.encode()):
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


def machines_allowed(view) -> bool:
    return getattr(view, "action", None) in getattr(view, "machine_actions", ())


class UnitTokenAuthentication(BaseAuthentication):
    """`request.user` is a MachinePrincipal for the unit; `request.auth` the unit itself."""

    def authenticate(self, request):
        raw = unit_token_in(get_authorization_header(request))
        if raw is None:
            return None  # not a unit's token: the person's token or the session may try
        unit = unit_authenticate(raw=raw)
        if unit is None:
            raise exceptions.AuthenticationFailed("Invalid or replaced unit token.")
        view = (request.parser_context or {}).get("view")
        if not machines_allowed(view):
            raise exceptions.PermissionDenied("A unit's token is for the unit endpoints only.")
        scope = (Q(task_type__key=unit.unit_type) | Q(assignee_unit_id=unit.pk)
                 | Q(task_type_id__in=task_types_accepting(unit_type=unit.unit_type)))
        return MachinePrincipal(unit_actor(unit=unit), task_scope=scope), unit

    def authenticate_header(self, request):
        return "Bearer"


class UnitTokenScheme(OpenApiAuthenticationExtension):
    target_class = UnitTokenAuthentication
    name = "unitToken"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(header_name="Authorization",
                                                     token_prefix="Bearer")
        scheme["description"] = "An execution unit's token (tmu_…), from its registration."
        return scheme
