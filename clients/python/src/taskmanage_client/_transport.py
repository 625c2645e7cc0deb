"""What the sync and async clients share: when to retry, how long to wait, how an answer
becomes a result or an exception. Only the I/O differs between the two flavours.

When a call is retried
----------------------
- The request never left (connection refused, connect timeout, no free connection): always;
  nothing reached the server.
- 429 and 503: always; the server (or a proxy before it) refused the request without doing it.
  Their `Retry-After` (seconds or an HTTP date) is honoured, capped by `max_backoff`.
- Sent but unanswered (read timeout, connection dropped), 502 and 504: only when the call is
  *safe* to repeat: GET, PUT, DELETE, and the POSTs made safe on purpose (creates carry an
  idempotency key that stays the same on every attempt; a task report's repeat answers 409,
  see `Call.settled`, taken for done only after an attempt that may have run; progress,
  drain and undrain set a state rather than add one).
- 500: only for the idempotent HTTP methods (GET, HEAD, OPTIONS, PUT, DELETE).
- Any other 4xx: never; repeating the same request gets the same answer.
Between attempts: exponential backoff with full jitter, `uniform(0, min(max_backoff,
backoff * 2**attempt))`, so many clients failing together do not come back together.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from . import errors

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
REFUSED = frozenset({429, 503})
GATEWAY = frozenset({502, 504})


@dataclass(frozen=True)
class Call:
    """One API call: the request, whether it may be repeated, and what its answer becomes.

    `settled`: statuses that, in a 409 to a *repeated* attempt, mean the first attempt did
    what was asked and only its answer was lost (a `complete` whose repeat finds the task
    completed). The call then answers with `recover()`, a call reading the object back,
    instead of raising the Conflict. `gone_ok`: a 404 to a repeated attempt means done (a
    DELETE whose first attempt went through).
    """

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    safe: bool | None = None  # None: by the HTTP method
    read_timeout: float | None = None
    parse: Callable[[httpx.Response], Any] = lambda response: response
    settled: frozenset[str] = frozenset()
    recover: Callable[[], Call] | None = None
    gone_ok: bool = False

    @property
    def repeatable(self) -> bool:
        return self.method in IDEMPOTENT_METHODS if self.safe is None else self.safe


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None:
            return min(self.max_backoff, max(0.0, retry_after))
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))

    def retry_exception(self, call: Call, exc: Exception, attempt: int) -> bool:
        if attempt >= self.retries or not isinstance(exc, httpx.TransportError):
            return False
        return isinstance(exc, NOT_SENT) or call.repeatable

    def retry_response(self, call: Call, response: httpx.Response, attempt: int) -> bool:
        if attempt >= self.retries:
            return False
        code = response.status_code
        if code in REFUSED:
            return True
        if code in GATEWAY:
            return call.repeatable
        return code == 500 and call.method in IDEMPOTENT_METHODS


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, from either form the header takes; None if absent or bad."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def error_for(response: httpx.Response) -> errors.TaskManageError:
    body = body_of(response)
    code = response.status_code
    detail = body.get("detail") if isinstance(body, dict) else None
    message = f"{response.request.method} {response.request.url.path}: {code} " + (
        str(detail) if detail else response.reason_phrase)
    if code == 429:
        return errors.RateLimited(message, status=code, body=body,
                                  retry_after=retry_after(response))
    if code >= 500:
        return errors.ServerError(message, status=code, body=body)
    kind = errors.BY_STATUS.get(code, errors.TaskManageError)
    return kind(message, status=code, body=body)


def may_have_run(failure: httpx.Response | Exception) -> bool:
    """Whether a failed attempt may have done the call's work with only its answer lost: sent
    and unanswered, or answered by a gateway (502, 504) or a 500. A request that never left,
    a 429 and a 503 did nothing: a 409 after them is the server's answer to this call."""
    if isinstance(failure, httpx.Response):
        return failure.status_code not in REFUSED
    return not isinstance(failure, NOT_SENT)


def settled_by_retry(call: Call, response: httpx.Response, *, earlier_may_have_run: bool) -> bool:
    """A repeated call whose 409 (or 404) shows an earlier attempt already did the work (only
    when one may have: see `may_have_run`)."""
    if not earlier_may_have_run:
        return False
    if response.status_code == 404 and call.gone_ok:
        return True
    if response.status_code != 409 or not call.settled or call.recover is None:
        return False
    body = body_of(response)
    return isinstance(body, dict) and body.get("status") in call.settled


def transport_error(call: Call, exc: Exception, attempts: int) -> errors.TransportError:
    return errors.TransportError(
        f"{call.method} {call.path}: no answer after {attempts} attempt(s): "
        f"{type(exc).__name__}: {exc}")


def timeout_for(base: httpx.Timeout, call: Call) -> httpx.Timeout:
    if call.read_timeout is None:
        return base
    return httpx.Timeout(connect=base.connect, read=max(base.read or 0, call.read_timeout),
                         write=base.write, pool=base.pool)


def monotonic() -> float:
    return time.monotonic()
