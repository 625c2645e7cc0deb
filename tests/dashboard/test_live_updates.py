"""The pages' live socket (/ws/live/) on the real Redis channel layer: who may open it, and
who is told what (the API's visibility rule), plus the log-lines fragment the task page
fetches when it hears of new lines."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.actors import Actor, MachinePrincipal
from apps.dashboard.consumers import LiveConsumer
from apps.dashboard.live import Viewer, for_viewer
from apps.tasks import services
from apps.tasks.states import TaskStatus
from tests.builders import task_in_state

from .conftest import signed_in

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


@pytest.fixture
def rights_read_here(monkeypatch):
    """The consumer reads the viewer's rights through database_sync_to_async, which closes the
    calling thread's connection when it is inside a transaction: here, the test's own. Plain
    sync_to_async runs the same read on the same thread without closing it (a transactional
    test would cost seconds of flushing instead)."""
    monkeypatch.setattr("apps.dashboard.consumers.database_sync_to_async", sync_to_async)


def committed(call):
    """A service call from the conversation: in a transactional test it commits, and its
    events go out after the commit as in production."""
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


# Transactional: the consumer reads rights through database_sync_to_async, and the events
# must really follow commits; inside a test's transaction, connections closed by the thread
# hand-offs (and Celery's eager tasks) broke the test's own now and then.
@pytest.mark.django_db(transaction=True)
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
                task=task, progress=40, by=as_alice))
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
                # Short: the consumer leaves the group at once, then waits on the channel
                # layer's receive until cancelled (a second by default).
                await socket.disconnect(timeout=0.2)

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


def test_signing_out_closes_the_live_sockets_of_that_session(alice, rights_read_here):
    browser = signed_in(alice)
    # What Channels' session middleware puts in the scope, as far as the consumer reads it.
    session = SimpleNamespace(session_key=browser.session.session_key)

    @async_to_sync
    async def conversation():
        communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
        communicator.scope.update(user=alice, session=session)
        assert (await communicator.connect())[0]
        await sync_to_async(browser.post)("/logout/")
        closing = await communicator.receive_output(timeout=WAIT)
        await communicator.disconnect(timeout=0.2)
        return closing

    assert conversation() == {"type": "websocket.close", "code": 4401}


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
    # queued: -1 +2, assigned: +1 -1 (left out), running: +1; open: the two created
    assert told[-1]["delta"] == {"queued": 1, "running": 1, "open": 2}
    assert told[3] == {"kind": "unit", "id": "worker-001", "status": "offline",
                       "label": "Offline"}


def test_work_ending_takes_one_off_the_open_figure():
    told = for_viewer(events=[transitioned("t1", "running", "completed", created_by=1)],
                      viewer=Viewer(user_id=9, sees_all=True))

    assert told[-1]["delta"] == {"running": -1, "completed": 1, "open": -1}


@pytest.mark.parametrize(("user_id", "expected"), [(1, ["t1"]), (2, ["t1"]), (3, ["t2"]),
                                                   (4, [])])
def test_anyone_else_is_told_only_of_tasks_they_created_or_hold(user_id, expected):
    told = for_viewer(events=BATCH, viewer=Viewer(user_id=user_id, sees_all=False))

    assert [i["id"] for i in told] == expected


# --- the log lines a live task page fetches ------------------------------------------------------
def lines_url(task, after) -> str:
    return f"/tasks/{task.pk}/log/lines/?after={after}"


@pytest.fixture
def logged(alice, rita):
    task = task_in_state(S.RUNNING, creator=rita, assignee=alice)
    return task, services.task_log_append(
        task=task, lines=[("info", "fetched the input"), ("warning", "slow <disk>")],
        by=Actor.for_user(alice))


def test_the_page_fetches_the_lines_after_the_last_it_shows(alice, logged, as_user):
    task, (first, second) = logged

    response = as_user(alice).get(lines_url(task, first.pk))

    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    assert f'data-log-id="{second.pk}"' in html and "slow &lt;disk&gt;" in html
    assert "fetched the input" not in html


def test_the_creator_and_a_manager_read_the_lines_the_outsider_gets_a_404(
        rita, margaret, mallory, logged, as_user):
    task, _ = logged

    assert as_user(rita).get(lines_url(task, 0)).status_code == 200
    assert as_user(margaret).get(lines_url(task, 0)).status_code == 200
    assert as_user(mallory).get(lines_url(task, 0)).status_code == 404


def test_a_visitor_without_a_session_is_sent_to_sign_in(logged, client):
    task, _ = logged

    response = client.get(lines_url(task, 0))

    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "9" * 19, "1" * 5000])
def test_a_malformed_position_is_a_400(alice, logged, as_user, after):
    task, _ = logged

    assert as_user(alice).get(lines_url(task, after)).status_code == 400


def test_the_lines_cost_the_same_queries_for_5_or_50(alice, logged, as_user):
    task, _ = logged
    client = as_user(alice)

    def queries_for(n: int) -> int:
        services.task_log_append(task=task, lines=[("info", f"line {i}") for i in range(n)],
                                 by=Actor.for_user(alice))
        last = task.logs.order_by("-id").values_list("id", flat=True)[n]
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(lines_url(task, last)).content.decode().count("data-log-id") == n
        return len(ctx.captured_queries)

    assert queries_for(5) == queries_for(50)
