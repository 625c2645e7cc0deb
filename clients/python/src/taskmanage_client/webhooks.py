"""Verifying a TaskManage callback on the receiving side.

TaskManage signs each callback with your callback secret (`GET /api/v1/callbacks/secret`):
`X-TaskManage-Signature: v1=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>` where the
timestamp is `X-TaskManage-Timestamp` (Unix seconds). Verify on the raw bytes, before parsing
the JSON, and refuse old timestamps so that a captured request cannot be replayed later.

`X-TaskManage-Delivery` names the delivery and is the same on each of its attempts (a retry
after a lost answer, or a second POST when an attempt outlived its claim): a receiver that
keeps the ids it has handled answers 2xx to a repeat and does nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["InvalidSignature", "verify"]


class InvalidSignature(Exception):
    """The callback is not TaskManage's, was altered, or is too old."""


def verify(secret: str, timestamp: str | int, body: bytes, signature: str,
           tolerance: float = 300, *, now: float | None = None) -> None:
    """Raise InvalidSignature unless `signature` signs `body` at `timestamp` under `secret`
    and the timestamp is within `tolerance` seconds of now (either way)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise InvalidSignature("the timestamp is not a number") from exc
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise InvalidSignature("the timestamp is outside the tolerance")
    expected = hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    # Several signatures may be sent (e.g. during a rotation), comma-separated: one suffices.
    given = [part.strip()[3:] for part in signature.split(",") if part.strip().startswith("v1=")]
    if not any(hmac.compare_digest(expected, sig) for sig in given):
        raise InvalidSignature("no valid v1 signature")
