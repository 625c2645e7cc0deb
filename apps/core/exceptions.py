"""Domain errors that services raise and the API turns into HTTP statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors a caller can act on (never a 500)."""


class Conflict(DomainError):
    """The change is not possible from the current state (HTTP 409)."""

    def __init__(self, message: str, *, current: str | None = None, allowed=()):
        super().__init__(message)
        self.current = current
        self.allowed = sorted(allowed)


class PermissionDenied(DomainError):
    """The actor may not do this (HTTP 403)."""


class InvalidInput(DomainError):
    def __init__(self, message="Invalid input.", *, fields=None):
        super().__init__(message)
        self.fields = dict(fields or {})
