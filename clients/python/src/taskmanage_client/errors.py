"""One exception class per kind of answer a caller acts on differently.

Every class carries the HTTP `status` (None when no answer came) and the decoded `body` (the
API's JSON error, `{"detail", "code", ...}`, or the raw text when it was not JSON).
"""

from __future__ import annotations

from typing import Any


class TaskManageError(Exception):
    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        """The API's machine-readable reason (`invalid`, `conflict`, `not_found`…)."""
        return self.body.get("code") if isinstance(self.body, dict) else None


class ValidationError(TaskManageError):
    """400: `fields` maps each field at fault to its messages (`non_field_errors` for the
    rest); a batch's item errors stay nested as the API reports them."""

    def __init__(self, message: str, *, status: int | None = 400, body: Any = None):
        super().__init__(message, status=status, body=body)
        data = body if isinstance(body, dict) else {}
        self.fields: dict[str, Any] = {k: v for k, v in data.items()
                                       if k not in ("detail", "code")}


class AuthenticationFailed(TaskManageError):
    """401: no token, or a token that is expired, revoked or replaced."""


class PermissionDenied(TaskManageError):
    """403: authenticated, but not allowed to do this."""


class NotFound(TaskManageError):
    """404: no such object, or one the caller may not see."""


class Conflict(TaskManageError):
    """409: not possible from where the object stands: `current` is its status and
    `allowed` the actions it allows now."""

    def __init__(self, message: str, *, status: int | None = 409, body: Any = None):
        super().__init__(message, status=status, body=body)
        data = body if isinstance(body, dict) else {}
        self.current: str | None = data.get("status")
        self.allowed: list[str] = list(data.get("allowed_transitions") or [])


class RateLimited(TaskManageError):
    """429 still answered after the retries: `retry_after` is the server's wait in seconds
    (None when it gave none)."""

    def __init__(self, message: str, *, status: int | None = 429, body: Any = None,
                 retry_after: float | None = None):
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class ServerError(TaskManageError):
    """5xx still answered after the retries (or a 500 to a call that is not retried)."""


class TransportError(TaskManageError):
    """No answer: the connection failed or timed out, after the retries."""


class WaitTimeout(TaskManageError, TimeoutError):
    """`wait_for` gave up before the task reached a terminal status; `task` is the last seen."""

    def __init__(self, message: str, *, task: Any = None):
        super().__init__(message)
        self.task = task


BY_STATUS: dict[int, type[TaskManageError]] = {
    400: ValidationError, 401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound,
    409: Conflict, 429: RateLimited,
}
