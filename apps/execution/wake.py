"""Waking units that wait for work: Redis pub/sub, one channel per task type.

When work of a unit type is queued, a message goes to that type's channel (after commit, from
an outbox thread). A claim that found nothing and may wait (`wait` seconds) is held on the
server's event loop, not on a request thread (apps.execution.longpoll), until a message comes
or its time is up, then claims again. One subscription per server process serves every
waiting claim. A lost message (Redis down) costs only the wait: the claim returns empty and
the unit asks again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict

import redis
import redis.asyncio as aioredis
from django.conf import settings

from . import beats

logger = logging.getLogger(__name__)


def channel(task_type_key: str) -> str:
    return f"{settings.UNITS_KEY_PREFIX}wake:{task_type_key}"


def publish(task_type_keys: list[str]) -> None:
    pipe = beats.client().pipeline(transaction=False)
    for key in task_type_keys:
        pipe.publish(channel(key), b"1")
    pipe.execute()


class Waker:
    """This event loop's one pattern subscription, and the claims waiting on each channel."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def watch(self, name: str) -> asyncio.Event | None:
        """An event set whenever `name` is published to, from now on; None without Redis.
        Give it back with `unwatch`."""
        if not await self._listening():
            return None
        event = asyncio.Event()
        self._waiting[name].add(event)
        return event

    def unwatch(self, name: str, event: asyncio.Event) -> None:
        self._waiting[name].discard(event)
        if not self._waiting[name]:
            del self._waiting[name]

    async def _listening(self) -> bool:
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.get_running_loop().create_task(self._listen())
        try:
            await asyncio.wait_for(self._ready.wait(), settings.REDIS_CONNECT_TIMEOUT + 1)
        except TimeoutError:
            return False
        return not self._task.done()

    async def _listen(self) -> None:
        client = aioredis.Redis.from_url(settings.UNITS_REDIS_URL,
                                         socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe(channel("*"))
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        for event in list(self._waiting.get(message["channel"].decode(), ())):
                            event.set()
        except (redis.RedisError, OSError):
            logger.warning("unit wake-ups unavailable (Redis); claims return without waiting")
        finally:
            self._ready.set()  # never leave a claim waiting for a listener that is gone
            await client.aclose()


# One waker per event loop (a server process has one; each test its own).
_wakers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def waker() -> Waker:
    """The waker of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _wakers.get(loop)
    if found is None:
        found = _wakers[loop] = Waker()
    return found
