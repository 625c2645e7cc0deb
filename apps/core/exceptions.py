"""Domain errors: the only exceptions services raise for a caller to act on.

apps.core.api maps them to HTTP in one place (Conflict 409, PermissionDenied 403, InvalidInput
400 naming the fields at fault); the admin helpers (apps.core.admin) turn them into messages.
Nothing else translates them, so a service never needs to know who called it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied


class DomainError(Exception):
    """Base for errors a caller can act on (never a 500)."""


class Conflict(DomainError):
    """The change is not possible from the current state (HTTP 409)."""

    def __init__(self, message: str, *, current: str | None = None, allowed: Iterable = ()):
        super().__init__(message)
        self.current = current
        self.allowed = sorted(allowed)

    def details(self) -> dict:
        """What the 409 body says beside `detail`: where things stand and what is possible."""
        return {"status": self.current, "allowed_transitions": self.allowed}


class PermissionDenied(DomainError, DjangoPermissionDenied):
    """The actor may not do this (HTTP 403).

    Also a Django PermissionDenied, so that the admin, Django's views and DRF all answer it
    with a 403: one class for every layer that refuses someone.
    """


class InvalidInput(DomainError):
    """The values given break a rule (HTTP 400), with the fields at fault and why.

    `fields` maps a field name to its messages, as a form or serializer reports them; a rule
    about no single field goes under "non_field_errors".
    """

    def __init__(self, message: str = "Invalid input.", *,
                 fields: Mapping[str, Iterable[str]] | None = None):
        super().__init__(message)
        self.fields = {name: list(msgs) for name, msgs in (fields or {}).items()}

    @classmethod
    def on(cls, field: str, message: str) -> InvalidInput:
        """One field, one message: `raise InvalidInput.on("end", "A leave ends after…")`."""
        return cls(message, fields={field: [message]})
