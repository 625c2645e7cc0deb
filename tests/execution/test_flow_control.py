"""A unit type's queue paused or limited: claims skip it or stop at the limit, nothing lost."""

from __future__ import annotations

import pytest

from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from tests.builders import api_client, create_task
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db


def claim(token: str, unit_id: str, n: int) -> list[dict]:
    return unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim",
                                   {"max": n}).json()["tasks"]


def test_a_paused_queue_is_skipped_and_resumed_without_losing_work(olga, docs):
    for _ in range(3):
        create_task(by=olga, task_type=docs)
    _, token = register("worker-001", capacity=5)
    admin = api_client(olga)

    paused = admin.patch("/api/v1/task-types/docs", {"queue_paused": True})
    assert paused.status_code == 200 and paused.json()["queue_paused"] is True
    assert claim(token, "worker-001", 5) == []
    assert Task.objects.filter(task_type=docs, status=S.QUEUED).count() == 3

    admin.patch("/api/v1/task-types/docs", {"queue_paused": False})
    assert len(claim(token, "worker-001", 5)) == 3


def test_no_more_than_the_limit_run_at_once_across_all_units(olga, docs):
    for _ in range(5):
        create_task(by=olga, task_type=docs)
    _, first = register("worker-001", capacity=5)
    _, second = register("worker-002", capacity=5)
    api_client(olga).patch("/api/v1/task-types/docs", {"max_running": 2})

    a = claim(first, "worker-001", 5)
    b = claim(second, "worker-002", 5)
    assert (len(a), len(b)) == (2, 0)

    unit_client(first).post(f"/api/v1/tasks/{a[0]['id']}/complete", {})
    assert len(claim(second, "worker-002", 5)) == 1


def test_the_task_type_api_shows_the_defaults_and_refuses_a_bad_limit(olga, docs):
    shown = api_client(olga).get("/api/v1/task-types/docs").json()
    bad = api_client(olga).patch("/api/v1/task-types/docs", {"max_running": 0})

    assert (shown["max_running"], shown["queue_paused"]) == (None, False)
    assert bad.status_code == 400 and "max_running" in bad.json()


def test_only_admins_pause_a_queue(margaret, alice, docs):
    for user in (margaret, alice):
        response = api_client(user).patch("/api/v1/task-types/docs", {"queue_paused": True})
        assert response.status_code == 403


def test_a_type_may_accept_further_unit_types(olga, docs):
    create_task(by=olga, task_type=docs)
    _, ocr = register("ocr-1", unit_type="ocr")
    _, video = register("video-1", unit_type="video")

    set_types = api_client(olga).patch("/api/v1/task-types/docs", {"unit_types": ["ocr"]})

    assert set_types.json()["unit_types"] == ["ocr"]
    assert claim(video, "video-1", 1) == []
    (task,) = claim(ocr, "ocr-1", 1)
    done = unit_client(ocr).post(f"/api/v1/tasks/{task['id']}/complete", {})
    assert done.status_code == 200 and done.json()["status"] == S.COMPLETED


def test_resuming_a_queue_wakes_the_units_waiting_for_its_work(
        olga, docs, django_capture_on_commit_callbacks):
    from apps.core.actors import Actor
    from apps.execution import beats, services, wake
    from apps.execution.subscribers import wake_ups

    services.unit_queue_set(task_type=docs, by=Actor.system("tests"), paused=True)
    listener = beats.client().pubsub()
    listener.subscribe(wake.channel("docs"))
    listener.get_message(timeout=1)  # the subscription's confirmation

    with django_capture_on_commit_callbacks(execute=True):
        services.unit_queue_set(task_type=docs, by=Actor.system("tests"), paused=False)
    assert wake_ups.flush(5)

    message = listener.get_message(timeout=2)
    listener.close()
    assert message is not None and message["channel"].decode() == wake.channel("docs")
