"""Forward domain events to the live WebSocket stream: best effort, off the request path.

Sending to the channel layer costs a Redis round trip and an event loop hop; doing it inline
made every transition several milliseconds slower. Events go to an in-process outbox instead,
and one background thread sends them to the group in batches. A live page may miss an update
if the process dies with events in the outbox; the database keeps the truth either way.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from channels.layers import get_channel_layer

from .consumers import EVENTS_GROUP
from .events import subscribe

logger = logging.getLogger(__name__)

BATCH = 200
_outbox: queue.SimpleQueue = queue.SimpleQueue()
_sender: threading.Thread | None = None
_sender_lock = threading.Lock()


@subscribe("*")
def broadcast_to_live_pages(name: str, payload: dict) -> None:
    _outbox.put({"event": name, "data": payload})
    _ensure_sender()


def _ensure_sender() -> None:
    global _sender
    if _sender is not None and _sender.is_alive():
        return
    with _sender_lock:
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_send_forever, name="live-events", daemon=True)
            _sender.start()


def _send_forever() -> None:
    # One event loop for the thread's life: a fresh loop per send (async_to_sync) cost
    # about ten times the send itself.
    loop = asyncio.new_event_loop()
    while True:
        batch = [_outbox.get()]
        while len(batch) < BATCH:
            try:
                batch.append(_outbox.get_nowait())
            except queue.Empty:
                break
        try:
            loop.run_until_complete(_send(batch))
        except Exception:  # Redis down or slow: drop this batch, keep the thread alive
            logger.warning("live events: %d not delivered", len(batch), exc_info=True)


async def _send(batch: list[dict]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(EVENTS_GROUP, {"type": "domain.events", "events": batch})
