"""Forward every domain event to the live WebSocket stream (best effort, after commit)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .consumers import EVENTS_GROUP
from .events import subscribe

logger = logging.getLogger(__name__)


@subscribe("*")
def broadcast_to_live_pages(name: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    # A live page missing an update is acceptable; a request failing because Redis is slow
    # is not, so errors are logged by the event bus and the request carries on.
    async_to_sync(layer.group_send)(
        EVENTS_GROUP, {"type": "domain.event", "event": name, "data": payload}
    )
