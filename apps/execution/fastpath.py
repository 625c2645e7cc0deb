"""Heartbeats answered on the event loop: the hottest request, kept off the thread pool.

A heartbeat writes only to Redis (apps.execution.beats). Through Django and DRF it costs a
request thread, the token's row, the unit's row and the API's layers: about five times a
minimal view's CPU, measured (README, "Execution units"). This ASGI middleware, in front of
the thread pool, answers the common case itself: a unit's token known to this process (its
unit looked up at most every TOKEN_TTL seconds), a plain body (`current_load`, `metadata`),
the unit's own id in the path, a live unit and a Redis that answers. Anything else goes on to
the API unchanged, which stays the one that decides: malformed or hostile bodies (its 400s),
another unit's id (403), an unknown or replaced token (401), an offline unit coming back
(its status change in PostgreSQL), Redis down (the heartbeat written to PostgreSQL).

What this costs: a replaced token or a deregistered unit is still accepted here for up to
TOKEN_TTL seconds (only its heartbeat, which the sweep ignores for a unit row that is gone).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from . import beats
from .api.serializers import MAX_METADATA
from .asgibody import read_body, replay
from .authentication import unit_token_in
from .metrics import HEARTBEATS
from .models import LIVE_STATES
from .services import token_hash

HEARTBEAT_PATH = re.compile(r"^/api/v1/execution-units/([^/]+)/heartbeat/?$")
TOKEN_TTL = 5.0
MAX_BODY = 16 * 1024
MAX_LOAD = 1_000_000
FIELDS = frozenset({"current_load", "metadata"})


@dataclass(frozen=True)
class KnownUnit:
    pk: int
    unit_id: str
    status: str
    unit_type: str
    until: float  # time.monotonic() after which it is looked up again


_known: dict[str, KnownUnit] = {}
# One client per event loop (a server process has one; each test its own).
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lookup(hashed: str) -> KnownUnit | None:
    from django.db import connection

    from .models import ExecutionUnit

    try:
        row = (ExecutionUnit.objects.filter(token_hash=hashed)
               .values_list("pk", "unit_id", "status", "unit_type").first())
    finally:
        # An executor thread is no request: nothing else would give its connection back to
        # the pool, and a few lookups would hold every slot.
        connection.close()
    if row is None:
        return None
    return KnownUnit(*row, until=time.monotonic() + TOKEN_TTL)


async def _unit_for(token: str) -> KnownUnit | None:
    hashed = token_hash(raw=token)
    known = _known.get(hashed)
    if known is None or known.until < time.monotonic():
        # thread_sensitive=False: a lookup must not queue behind other sync work.
        known = await sync_to_async(_lookup, thread_sensitive=False)(hashed)
        if known is None:
            _known.pop(hashed, None)
            return None
        _known[hashed] = known
    return known


def _client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(
            settings.UNITS_REDIS_URL, socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT)
    return client


def plain_heartbeat(body: bytes) -> tuple[int, dict] | None:
    """(current_load, metadata) of a body with nothing unusual in it, else None (the API then
    judges it, with its limits on size, depth and characters)."""
    if len(body) > MAX_BODY or b"\\u0000" in body or b"\\ud" in body.lower():
        return None
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None
    if not isinstance(data, dict) or not set(data) <= FIELDS:
        return None
    load, metadata = data.get("current_load", 0), data.get("metadata", {})
    if type(load) is not int or not 0 <= load <= MAX_LOAD or not isinstance(metadata, dict):
        return None
    if len(json.dumps(metadata)) > MAX_METADATA:  # the API's 400 says why
        return None
    if not _shallow(metadata):
        return None
    return load, metadata


def _shallow(value, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _shallow(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_shallow(v, depth + 1) for v in value)
    return True


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return unit_token_in(value)
    return None


class HeartbeatFastPath:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        match = (HEARTBEAT_PATH.match(scope["path"])
                 if scope["type"] == "http" and scope["method"] == "POST" else None)
        token = _bearer(scope) if match else None
        if token is None:
            return await self.app(scope, receive, send)
        body = await read_body(receive, limit=MAX_BODY)
        answer = await self._answer(match.group(1), token, body.data) if body.complete else None
        if answer is None:
            return await self.app(scope, replay(body, receive)(), send)
        payload = json.dumps(answer).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, unit_id: str, token: str, body: bytes) -> dict | None:
        beat = plain_heartbeat(body)
        if beat is None:
            return None
        unit = await _unit_for(token)
        if unit is None or unit.unit_id != unit_id or unit.status not in LIVE_STATES:
            return None
        try:
            cancelled = await _record(unit.pk, load=beat[0], metrics=beat[1])
        except (redis.RedisError, OSError):
            return None  # the API writes it to PostgreSQL instead
        HEARTBEATS.labels(unit.unit_type).inc()
        return {"status": unit.status, "cancelled": cancelled}


async def _record(unit_pk: int, *, load: int, metrics: dict) -> list[str]:
    """apps.execution.beats.record, on this event loop's client."""
    async with _client().pipeline(transaction=True) as pipe:
        taken = beats.add_beat(pipe, unit_pk, load=load, metrics=metrics)
        return beats.cancelled_in(await pipe.execute(), taken)
