"""Long-polling claims, held on the event loop instead of a request thread.

`POST /api/v1/execution-units/{id}/claim {"max": n, "wait": s}`: the claim runs through the
API as any other request (authentication, validation, the claim service). When it finds no
work and may wait, the view says on which channel (`X-Wake-Channel`); this ASGI middleware,
in front of the WSGI thread pool, then waits on the event loop for that channel's wake-up (or
the time left) and runs the same request again. A request thread is busy only while a claim
actually runs, so a thousand waiting units cost a thousand sockets, not a thousand threads.

Subscribing happens before the second attempt, so work queued between the first attempt and
the subscription is found by the second: no wake-up is missed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from .asgibody import read_body, replay
from .wake import waker

CLAIM_PATH = re.compile(r"^/api/v1/execution-units/[^/]+/claim/?$")
WAKE_HEADER = "X-Wake-Channel"
MAX_BODY = 64 * 1024  # a claim body is a few bytes; anything larger goes through untouched


class LongPollClaims:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] != "POST"
                or not CLAIM_PATH.match(scope["path"])):
            return await self.app(scope, receive, send)
        body = await read_body(receive, limit=MAX_BODY)
        wait = _requested_wait(body.data) if body.complete else 0.0
        if wait <= 0:
            return await self.app(scope, replay(body, receive)(), send)
        client = _Client(receive)  # from here on, only it reads the client's messages
        try:
            again = replay(body, client.after_body)
            deadline = time.monotonic() + wait
            status, messages = await _capture(self.app, scope, again())
            channel = _wake_channel(status, messages)
            if channel is not None and deadline > time.monotonic():
                messages = await self._wait_and_claim(scope, again, channel, deadline,
                                                      client) or messages
            if not client.gone.is_set():
                for message in messages:
                    await send(message)
        finally:
            client.close()

    async def _wait_and_claim(self, scope, replay, channel: str, deadline: float,
                              client: _Client):
        """Watch the channel first, then claim again until work comes or time is up: a
        wake-up published at any moment after the first attempt is seen. A client gone
        meanwhile (a unit stopped or killed) claims nothing more: its work would sit leased
        to nobody until the lease ran out."""
        wakes = await waker().watch(channel)
        if wakes is None:
            return None  # no Redis: answer the empty claim now, the unit asks again
        try:
            while True:
                status, messages = await _capture(self.app, scope, replay())
                left = deadline - time.monotonic()
                if _wake_channel(status, messages) is None or left <= 0:
                    return messages
                woken = asyncio.ensure_future(wakes.wait())
                gone = asyncio.ensure_future(client.gone.wait())
                await asyncio.wait({woken, gone}, timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                gone.cancel()
                if client.gone.is_set():
                    return []
                wakes.clear()
        finally:
            waker().unwatch(channel, wakes)


class _Client:
    """Watches the client's messages once its body is read, to notice a disconnect."""

    def __init__(self, receive) -> None:
        self.gone = asyncio.Event()
        self._receive = receive
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone.set()

    async def after_body(self) -> dict:
        """What the app reads after the body: the disconnect, when it comes."""
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def close(self) -> None:
        self._task.cancel()


def _requested_wait(body: bytes) -> float:
    """The `wait` asked for; the view validates it (a bad one is its 400, not ours)."""
    try:
        wait = json.loads(body).get("wait", 0)
    except (ValueError, AttributeError):
        return 0.0
    return float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else 0.0


async def _capture(app, scope, receive) -> tuple[int, list[dict]]:
    messages: list[dict] = []

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    return (start["status"] if start else 500), messages


def _wake_channel(status: int, messages: list[dict]) -> str | None:
    """The channel to wait on, when the claim found nothing and may wait."""
    if status != 200:
        return None
    start = next(m for m in messages if m["type"] == "http.response.start")
    for name, value in start.get("headers", []):
        if name.lower() == WAKE_HEADER.lower().encode():
            return value.decode()
    return None

