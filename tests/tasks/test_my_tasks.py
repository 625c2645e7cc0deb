"""/api/v1/me/tasks: the caller's open work, shaped like /api/v1/tasks, at a constant cost."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.staff.services import staff_update
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_task_type, make_user, task_in_state

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_shows_only_my_open_tasks(alice, bob, margaret):
    kind = make_task_type()
    staff_update(staff=alice.staff, capacity=5)  # four open tasks in hand, and one done
    mine = [task_in_state(status, creator=margaret, assignee=alice, task_type=kind)
            for status in (S.ASSIGNED, S.RUNNING, S.PAUSED, S.IN_REVIEW)]
    task_in_state(S.COMPLETED, creator=margaret, assignee=alice, task_type=kind)
    task_in_state(S.RUNNING, creator=margaret, assignee=bob, task_type=kind)
    create_task(by=alice, task_type=kind)  # created by me, held by nobody
    body = api_client(alice).get("/api/v1/me/tasks").json()
    assert body["count"] == 4
    assert {row["id"] for row in body["results"]} == {str(t.pk) for t in mine}


def test_a_manager_sees_only_their_own_there_too(margaret, alice):
    task_in_state(S.RUNNING, creator=margaret, assignee=alice)
    assert api_client(margaret).get("/api/v1/me/tasks").json()["count"] == 0


def test_same_shape_as_the_task_api(alice, margaret):
    task = task_in_state(S.RUNNING, creator=margaret, assignee=alice)
    client = api_client(alice)
    mine = client.get("/api/v1/me/tasks").json()["results"][0]
    detail = client.get(f"/api/v1/tasks/{task.pk}").json()
    # The detail adds what other apps keep for a task's work (a workflow's inputs); a list
    # row is the task itself.
    assert detail.pop("inputs") is None
    assert mine == detail
    assert mine["assignee"] == {"kind": "staff", "id": alice.staff.pk, "user_id": alice.pk,
                                "name": "alice"}


def test_paginates_and_filters_like_the_task_api(alice, margaret):
    staff_update(staff=alice.staff, capacity=4)  # four tasks in hand
    for _ in range(3):
        task_in_state(S.RUNNING, creator=margaret, assignee=alice)
    task_in_state(S.PAUSED, creator=margaret, assignee=alice)
    client = api_client(alice)
    page = client.get("/api/v1/me/tasks?page_size=2&page=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["previous"]
    assert client.get("/api/v1/me/tasks?status=paused").json()["count"] == 1
    assert client.get("/api/v1/me/tasks/?status=nonsense").status_code == 400


def test_costs_the_same_queries_for_few_or_many_tasks(alice, margaret):
    kind = make_task_type()

    def queries():
        fresh = type(alice).objects.get(pk=alice.pk)  # no role cached from before
        with CaptureQueriesContext(connection) as ctx:
            assert api_client(fresh).get("/api/v1/me/tasks?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    staff_update(staff=alice.staff, capacity=16)  # sixteen tasks in hand
    dep = create_task(by=margaret, task_type=kind)
    task_in_state(S.RUNNING, creator=margaret, assignee=alice, task_type=kind)
    few = queries()
    for _ in range(15):
        task = task_in_state(S.ASSIGNED, creator=make_user(f"c-{uuid.uuid4().hex[:6]}"),
                             assignee=alice, task_type=make_task_type())
        task.depends_on.add(dep)
    assert queries() == few


def test_anonymous_is_a_401():
    assert api_client().get("/api/v1/me/tasks").status_code == 401
