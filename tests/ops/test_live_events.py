"""Domain events reach live pages over WebSockets, through the real Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from apps.core.events import deliver, emit
from apps.ops.consumers import EventStreamConsumer

pytestmark = pytest.mark.django_db


async def connect(user):
    communicator = WebsocketCommunicator(EventStreamConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


def test_an_operator_receives_events_after_commit(olga):
    operator = olga

    # One event loop for the whole conversation: the consumer lives in it.
    @async_to_sync
    async def conversation():
        communicator, connected, _ = await connect(operator)
        assert connected
        try:
            await sync_to_async(deliver)("test.live", {"task_id": "t-1", "to": "running"})
            # The stream is one group in a shared Redis: another test process's events may
            # arrive first. Ours must come, in time.
            while (event := await communicator.receive_json_from(timeout=5))["event"] != (
                    "test.live"):
                continue
            return event
        finally:
            await communicator.disconnect()

    assert conversation() == {"event": "test.live", "data": {"task_id": "t-1", "to": "running"}}


@pytest.mark.parametrize("who", ["anonymous", "staff member"])
def test_the_stream_is_closed_to_non_operators(mallory, who):
    user = AnonymousUser() if who == "anonymous" else mallory

    @async_to_sync
    async def attempt():
        communicator, connected, code = await connect(user)
        # The consumer keeps waiting on the channel layer until told the socket is gone;
        # left running, it outlived the test and hung the test process on SQLite runs.
        await communicator.disconnect()
        return connected, code

    connected, code = attempt()
    assert not connected and code == 4403


def test_emit_waits_for_commit(django_capture_on_commit_callbacks):
    received = []
    from apps.core.events import subscribe

    @subscribe("test.event")
    def record(name, payload):
        received.append(payload)

    with django_capture_on_commit_callbacks(execute=True):
        emit("test.event", {"n": 1})
        assert received == []
    assert received == [{"n": 1}]


def test_a_failing_subscriber_does_not_break_the_others():
    from apps.core.events import subscribe

    received = []

    @subscribe("test.fragile")
    def broken(name, payload):
        raise RuntimeError("boom")

    @subscribe("test.fragile")
    def fine(name, payload):
        received.append(name)

    deliver("test.fragile", {})
    assert received == ["test.fragile"]
