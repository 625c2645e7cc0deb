"""The pages' live socket, `/ws/live/`: the domain events a signed-in person may see.

One group for every page (the ops stream's "events"): each connection filters a batch in
memory (apps.dashboard.live), so an event costs one Redis publish whatever the number of
viewers, and no query. Rights are read when the socket opens; a reconnect reads them again.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.accounts.roles import is_person
from apps.core.outbox import Outbox
from apps.ops.consumers import EVENTS_GROUP
from apps.ops.subscribers import to_channel_layer

from .live import for_viewer, viewer_for

# Close codes a browser can read (4000-4999 are the application's): not signed in, and a
# caller that is not a person (an execution unit's credential). The page stops retrying.
NOT_SIGNED_IN = 4401
NOT_A_PERSON = 4403


# Sign-outs, sent to the signed-out session's group by the outbox's thread.
sign_outs = Outbox("live-sign-outs", to_channel_layer, batch=50)


def session_group(session_key: str) -> str:
    return f"live.session.{session_key}"


def close_sockets_of_session(*, session_key: str) -> None:
    """Sign-out ends the session's live sockets too: an open tab must not go on hearing
    events for a session that no longer exists. Sent through an outbox, after the response:
    a frozen Redis held every sign-out for the layer's socket timeout (6 s). Best effort:
    if Redis fails, the socket lasts until its page goes or the server restarts."""
    if session_key:
        sign_outs.put((session_group(session_key), {"type": "session.ended"}))


class LiveConsumer(AsyncJsonWebsocketConsumer):
    viewer = None
    session_key = ""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(NOT_SIGNED_IN)
            return
        if not is_person(user):
            await self._refuse(NOT_A_PERSON)
            return
        self.viewer = await database_sync_to_async(viewer_for)(user=user)
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) or ""
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        if self.session_key:
            await self.channel_layer.group_add(session_group(self.session_key),
                                               self.channel_name)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accepted, then closed: a close before the handshake reaches a browser as a bare
        # HTTP 403 (close code 1006), and the page could not tell "sign in again" from a
        # network fault worth retrying. Nothing is sent in between.
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code):
        if self.viewer is not None:
            await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)
            if self.session_key:
                await self.channel_layer.group_discard(session_group(self.session_key),
                                                       self.channel_name)

    async def session_ended(self, message):
        await self.close(code=NOT_SIGNED_IN)

    async def domain_events(self, message):
        if self.viewer is None:
            return
        items = for_viewer(events=message["events"], viewer=self.viewer)
        if items:
            await self.send_json({"events": items})
