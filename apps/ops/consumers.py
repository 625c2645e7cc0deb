"""Live event stream over WebSockets: operators' pages subscribe to domain events."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

EVENTS_GROUP = "events"


class EventStreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        # Only operators watch the whole stream; per-task streams come with the dashboard.
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)

    async def domain_events(self, message):
        for event in message["events"]:
            await self.send_json(event)
