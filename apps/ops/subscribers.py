"""Forward domain events to the live WebSocket stream: best effort, off the request path.

Sending to the channel layer costs a Redis round trip and an event loop hop; doing it inline
made every transition several milliseconds slower, and a hung Redis would hold the request.
Events go to an outbox instead (apps.core.outbox), whose thread sends them to the group in
batches. A live page may miss an update if the process dies with events in the outbox or Redis
fails; the database keeps the truth either way.
"""

from __future__ import annotations

import asyncio
import threading

from channels.layers import get_channel_layer

from apps.core.outbox import Outbox

from .consumers import EVENTS_GROUP

BATCH = 200
_thread_state = threading.local()


def to_channel_layer(group_messages: list[tuple[str, dict]]) -> None:
    """Send (group, message) pairs to the channel layer, for an outbox's thread. One event
    loop for the sending thread's life: a fresh loop per send (async_to_sync) cost about ten
    times the send itself."""
    loop = getattr(_thread_state, "loop", None)
    if loop is None:
        loop = _thread_state.loop = asyncio.new_event_loop()
    loop.run_until_complete(_group_send(group_messages))


async def _group_send(group_messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        for group, message in group_messages:
            await layer.group_send(group, message)


def _send_batch(batch: list[dict]) -> None:
    to_channel_layer([(EVENTS_GROUP, {"type": "domain.events", "events": batch})])


live_events = Outbox("live-events", _send_batch, batch=BATCH)


def broadcast_to_live_pages(name: str, payload: dict) -> None:
    live_events.put({"event": name, "data": payload})
