"""The pages' live socket (/ws/live/) on the real Redis channel layer: who may open it, and
who is told what (the API's visibility rule), plus the log-lines fragment the task page
fetches when it hears of new lines."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from apps.core.actors import Actor, MachinePrincipal
from apps.dashboard.consumers import LiveConsumer
from apps.dashboard.live import Viewer, for_viewer
from apps.tasks import services
from apps.tasks.states import TaskStatus
from tests.builders import task_in_state

pytestmark = pytest.mark.django_db
S = TaskStatus
WAIT = 5


async def opened(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def heard_until(communicator, *, task_id: str, kind: str) -> list[dict]:
    """Every item this socket is sent up to the first `kind` item about `task_id`. The group
    is shared by every process on this Redis: other tests' events may come in between."""
    heard: list[dict] = []
    while True:
        frame = await communicator.receive_json_from(timeout=WAIT)
        heard.extend(frame["events"])
        if any(i["kind"] == kind and i.get("id") == task_id for i in frame["events"]):
            return heard


def about(items: list[dict], task_id: str) -> list[tuple[str, object]]:
    return [(i["kind"], i.get("status", i.get("progress", i.get("lines"))))
            for i in items if i.get("id") == task_id]


# The consumer reads the viewer's rights through database_sync_to_async, which closes the
# thread's connection around the call when it is inside a transaction (a plain test's): so
# these tests commit for real, and the services' events go out as they do in production.
sockets = pytest.mark.django_db(transaction=True)


def committed(call):
    return sync_to_async(call)()


@pytest.mark.parametrize(("who", "code"), [("anonymous", 4401), ("execution unit", 4403)])
def test_a_visitor_without_a_session_and_a_unit_are_turned_away(who, code):
    caller = (AnonymousUser() if who == "anonymous"
              else MachinePrincipal(Actor.unit(ref=1, name="worker-001")))

    @async_to_sync
    async def attempt():
        communicator = await opened(caller)
        # Accepted only to be closed with a code the page can read; nothing else is sent.
        closing = await communicator.receive_output(timeout=WAIT)
        # The refused consumer still waits on the channel layer's receive, which a
        # cancellation ends at once (a polite disconnect waited a second for it).
        await communicator.disconnect(timeout=0.1)
        return closing

    assert attempt() == {"type": "websocket.close", "code": code}


@sockets
def test_the_holder_and_a_manager_hear_the_task_move_progress_and_log_the_outsider_nothing(
        alice, rita, mallory, margaret):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice, title="Triage the inbox")
    own = task_in_state(S.QUEUED, creator=mallory, title="mallory's own")
    holder, as_alice = str(task.pk), Actor.for_user(alice)

    @async_to_sync
    async def conversation():
        alice_socket, mallory_socket = await opened(alice), await opened(mallory)
        manager_socket = await opened(margaret)
        try:
            await committed(lambda: services.task_transition(
                task_id=task.pk, action="start", by=as_alice))
            await committed(lambda: services.task_report_progress(
                task_id=task.pk, progress=40, by=as_alice, task=task))
            await committed(lambda: services.task_log_append(
                task=task, lines=[("info", "halfway")], by=as_alice))
            # Then one of mallory's own, which she must hear: all she heard before it shows
            # whether alice's task leaked to her.
            await committed(lambda: services.task_transition(
                task_id=own.pk, action="cancel", by=Actor.for_user(mallory)))
            return (await heard_until(alice_socket, task_id=holder, kind="log"),
                    await heard_until(mallory_socket, task_id=str(own.pk), kind="task"),
                    await heard_until(manager_socket, task_id=str(own.pk), kind="task"))
        finally:
            for socket in (alice_socket, mallory_socket, manager_socket):
                await socket.disconnect()

    alice_heard, mallory_heard, manager_heard = conversation()

    assert about(alice_heard, holder) == [("task", S.RUNNING), ("progress", 40), ("log", 1)]
    assert about(mallory_heard, holder) == []
    assert about(mallory_heard, str(own.pk)) == [("task", S.CANCELLED)]
    assert not [i for i in mallory_heard if i["kind"] in ("counts", "unit")]
    # A manager sees every task, and the counts by status each change moves.
    assert about(manager_heard, holder) == about(alice_heard, holder)
    assert about(manager_heard, str(own.pk)) == [("task", S.CANCELLED)]
    assert next(i for i in manager_heard if i.get("id") == holder)["label"] == "Running"
    assert any(i["kind"] == "counts" for i in manager_heard)


# --- the filter, without a socket: counts and units ------------------------------------------
def transitioned(task_id: str, before: str, after: str, *, created_by: int,
                 assignee_user: int | None = None) -> dict:
    return {"event": "task.transitioned", "data": {
        "task_id": task_id, "from": before, "to": after, "created_by": created_by,
        "assignee_user": assignee_user}}


BATCH = [
    transitioned("t1", "queued", "assigned", created_by=1, assignee_user=2),
    transitioned("t2", "assigned", "running", created_by=3, assignee_user=3),
    {"event": "tasks.created", "data": {"task_ids": ["t3", "t4"],
                                        "by_status": {"queued": 2}}},
    {"event": "task.progress", "data": {"task_id": "t5", "progress": 10}},  # no viewers named
    {"event": "unit.offline", "data": {"unit": "worker-001", "from": "online"}},
    {"event": "unit.registered", "data": {"unit": "worker-002", "created": True}},
]


def test_a_manager_is_told_every_task_the_units_and_one_summed_count_delta():
    told = for_viewer(events=BATCH, viewer=Viewer(user_id=9, sees_all=True))

    assert [(i["kind"], i.get("id")) for i in told] == [
        ("task", "t1"), ("task", "t2"), ("progress", "t5"), ("unit", "worker-001"),
        ("counts", None)]
    # queued: -1 +2, assigned: +1 -1 (left out), running: +1
    assert told[-1]["delta"] == {"queued": 1, "running": 1}
    assert told[3] == {"kind": "unit", "id": "worker-001", "status": "offline",
                       "label": "Offline"}


@pytest.mark.parametrize(("user_id", "expected"), [(1, ["t1"]), (2, ["t1"]), (3, ["t2"]),
                                                   (4, [])])
def test_anyone_else_is_told_only_of_tasks_they_created_or_hold(user_id, expected):
    told = for_viewer(events=BATCH, viewer=Viewer(user_id=user_id, sees_all=False))

    assert [i["id"] for i in told] == expected
