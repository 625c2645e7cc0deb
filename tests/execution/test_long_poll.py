"""A claim that may wait is held on the event loop and answered as soon as work is queued.

Driven through the application the server runs (taskmanage.asgi), with its thread pool, the
real Redis pub/sub and committed rows: the claim, the task's creation and the wake-up are each
what they are in production.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from django.db import connection, connections

from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from taskmanage.asgi import application
from tests.builders import create_task
from tests.execution.conftest import register

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the served application's threads need a shared database"),
]


async def claim(unit_id: str, token: str, body: dict,
                leaves_after: float | None = None) -> tuple[int, dict | None, float]:
    raw = json.dumps(body).encode()
    path = f"/api/v1/execution-units/{unit_id}/claim"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    (b"authorization", f"Bearer {token}".encode())],
    }
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if pending:
            return pending.pop()
        if leaves_after is not None:  # the unit stops (or is killed) while it waits
            await asyncio.sleep(leaves_after)
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()

    async def send(message):
        sent.append(message)

    started = time.monotonic()
    await application(scope, receive, send)
    took = time.monotonic() - started
    if not sent:
        return 0, None, took  # nothing was answered: nobody was there to read it
    status = next(m for m in sent if m["type"] == "http.response.start")["status"]
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload), took


def create_later(delay: float, **spec) -> threading.Thread:
    def work():
        time.sleep(delay)
        try:
            create_task(**spec)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_waiting_claim_gets_work_as_soon_as_it_is_queued(olga, docs):
    _, token = register("worker-001")
    creator = create_later(0.5, by=olga, task_type=docs)

    status, body, took = asyncio.run(claim("worker-001", token, {"max": 1, "wait": 10}))
    creator.join()

    assert status == 200 and len(body["tasks"]) == 1
    assert 0.4 < took < 3, took  # woken by the queued work, not by the end of the wait
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 1


def test_a_waiting_claim_with_no_work_answers_empty_when_its_time_is_up(docs):
    _, token = register("worker-001")

    status, body, took = asyncio.run(claim("worker-001", token, {"max": 1, "wait": 0.7}))

    assert (status, body) == (200, {"tasks": []})
    assert 0.6 < took < 3, took


def test_work_already_queued_is_claimed_without_waiting(olga, docs):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")

    status, body, took = asyncio.run(claim("worker-001", token, {"max": 5, "wait": 10}))

    assert status == 200 and len(body["tasks"]) == 1 and took < 2


def test_a_wait_beyond_the_maximum_is_a_400(settings, docs):
    _, token = register("worker-001")

    status, body, _ = asyncio.run(claim("worker-001", token, {"wait": 10_000}))

    assert status == 400 and "wait" in body


def test_a_unit_that_leaves_while_waiting_is_leased_nothing(olga, docs):
    _, token = register("worker-001")
    creator = create_later(1.0, by=olga, task_type=docs)

    status, body, took = asyncio.run(claim("worker-001", token, {"max": 1, "wait": 5},
                                           leaves_after=0.3))
    creator.join()

    assert (status, body) == (0, None) and took < 3
    (task,) = Task.objects.filter(task_type=docs)
    assert task.status == S.QUEUED and task.assignee_unit_id is None
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 0
