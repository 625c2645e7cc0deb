"""Units claim work under leases, report on it, and lose it when they go silent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.execution import beats, services
from apps.execution.models import ExecutionUnit
from apps.execution.subscribers import cancel_flags
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import Priority
from apps.tasks.states import TaskStatus as S
from tests.builders import api_client, create_task, make_task_type
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db


def claim(token: str, unit_id: str, n: int = 1) -> list[dict]:
    response = unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim", {"max": n})
    assert response.status_code == 200, response.json()
    return response.json()["tasks"]


def report(token: str, task_id: str, action: str, body: dict | None = None):
    return unit_client(token).post(f"/api/v1/tasks/{task_id}/{action}", body or {})


def test_a_claim_leases_queued_work_of_its_type_most_urgent_first(olga, docs):
    other_type = make_task_type("video", assignee_kind="unit")
    low = create_task(by=olga, task_type=docs, priority=Priority.LOW)
    urgent = create_task(by=olga, task_type=docs, priority=Priority.CRITICAL)
    create_task(by=olga, task_type=other_type)
    _, token = register("worker-001", capacity=5)

    got = claim(token, "worker-001", n=5)

    assert [t["id"] for t in got] == [str(urgent.pk), str(low.pk)]
    assert got[0]["status"] == S.RUNNING
    assert got[0]["assignee"] == {"kind": "unit", "id": "worker-001", "user_id": None,
                                  "name": "worker-001"}
    task = Task.objects.get(pk=urgent.pk)
    assert task.lease_expires_at > timezone.now() and task.attempts == 1
    assert list(task.history.values_list("transition", "actor_name"))[-2:] == [
        ("assign", "worker-001"), ("start", "worker-001")]
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 2


def test_a_unit_never_holds_more_than_its_capacity(olga, docs):
    for _ in range(5):
        create_task(by=olga, task_type=docs)
    _, token = register("worker-001", capacity=2)

    assert len(claim(token, "worker-001", n=10)) == 2
    assert claim(token, "worker-001", n=10) == []


def test_the_holder_reports_progress_logs_and_completes(olga, docs):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    assert report(token, task["id"], "progress", {"progress": 40}).status_code == 200
    assert report(token, task["id"], "logs",
                  {"level": "info", "message": "page 4 of 10"}).status_code == 201
    done = report(token, task["id"], "complete", {"result": {"chunks": 12}})

    assert done.status_code == 200 and done.json()["status"] == S.COMPLETED
    assert Task.objects.get(pk=task["id"]).result == {"chunks": 12}
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 0


def test_another_unit_cannot_report_on_work_it_does_not_hold(olga, docs):
    create_task(by=olga, task_type=docs)
    _, mine = register("worker-001")
    _, theirs = register("worker-002")
    (task,) = claim(mine, "worker-001")

    for action, body in (("complete", {}), ("progress", {"progress": 5}), ("fail", {})):
        response = report(theirs, task["id"], action, body)
        assert response.status_code == 409, (action, response.json())
    assert Task.objects.get(pk=task["id"]).status == S.RUNNING


def test_a_draining_unit_claims_nothing_and_finishes_what_it_holds(olga, docs):
    create_task(by=olga, task_type=docs)
    create_task(by=olga, task_type=docs)
    unit, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    drained = unit_client(token).post("/api/v1/execution-units/worker-001/drain")

    assert drained.json()["status"] == "draining"
    assert claim(token, "worker-001") == []
    assert report(token, task["id"], "complete").status_code == 200


def test_a_cancelled_task_is_flagged_at_its_units_next_heartbeat(
        olga, docs, django_capture_on_commit_callbacks):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = api_client(olga).post(f"/api/v1/tasks/{task['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancel_flags.flush(5)
    beat = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                                   {"current_load": 1})

    assert beat.json() == {"status": "online", "cancelled": [task["id"]]}
    assert unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                                   {}).json()["cancelled"] == []


def test_a_heartbeat_writes_no_database_row_until_the_sweep(docs):
    unit, token = register("worker-001")

    unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                            {"current_load": 3, "metadata": {"cpu": 0.5}})

    assert ExecutionUnit.objects.get(pk=unit.pk).last_heartbeat_at is None
    assert services.units_sweep().persisted == 1
    unit.refresh_from_db()
    assert unit.last_heartbeat_at is not None
    assert (unit.reported_load, unit.metrics) == (3, {"cpu": 0.5})


def test_a_silent_unit_goes_offline_and_its_work_completes_elsewhere_once(settings, olga,
                                                                          docs):
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    create_task(by=olga, task_type=docs)
    stale, stale_token = register("worker-001", heartbeat_timeout=10)
    _, fresh_token = register("worker-002", heartbeat_timeout=10)
    (task,) = claim(stale_token, "worker-001")
    later = timezone.now() + timedelta(seconds=11)
    beats.record(ExecutionUnit.objects.get(unit_id="worker-002").pk, load=0, metrics={},
                 at=later.timestamp())

    swept = services.units_sweep(now=later)

    assert (swept.offline, swept.failed_over) == (1, 1)
    assert ExecutionUnit.objects.get(pk=stale.pk).status == "offline"
    requeued = Task.objects.get(pk=task["id"])
    assert requeued.status == S.QUEUED and requeued.assignee_unit is None
    assert requeued.history.last().reason.startswith("unit offline: worker-001")
    (again,) = claim(fresh_token, "worker-002")
    assert again["id"] == task["id"]
    assert report(fresh_token, task["id"], "complete", {"result": 1}).status_code == 200
    assert report(stale_token, task["id"], "complete", {"result": 2}).status_code == 409
    completions = TaskHistory.objects.filter(task_id=task["id"], to_status=S.COMPLETED)
    assert completions.count() == 1 and Task.objects.get(pk=task["id"]).result == 1


def test_a_unit_heard_from_again_comes_back_online(settings, docs):
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    unit, token = register("worker-001", heartbeat_timeout=5)
    services.units_sweep(now=timezone.now() + timedelta(seconds=6))
    assert ExecutionUnit.objects.get(pk=unit.pk).status == "offline"

    beat = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat", {})

    assert beat.json()["status"] == "online"
    assert list(unit.events.values_list("event", flat=True)[:2]) == ["come_online",
                                                                     "go_offline"]


def test_nobody_goes_offline_while_redis_is_newly_remembering(settings, docs):
    # Redis restarted (or was flushed): every unit looks silent, none is.
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 60
    unit, _ = register("worker-001", heartbeat_timeout=5)

    swept = services.units_sweep(now=timezone.now() + timedelta(seconds=30))

    assert swept.offline == 0 and ExecutionUnit.objects.get(pk=unit.pk).status == "online"


def test_an_expired_lease_sends_the_task_back_to_the_queue(olga, docs):
    create_task(by=olga, task_type=docs)
    unit, token = register("worker-001", heartbeat_timeout=3600)
    (task,) = claim(token, "worker-001")

    swept = services.units_sweep(now=timezone.now() + timedelta(
        seconds=settings_lease() + 1))

    assert swept.leases_expired == 1
    back = Task.objects.get(pk=task["id"])
    assert back.status == S.QUEUED and back.lease_expires_at is None
    assert ExecutionUnit.objects.get(pk=unit.pk).held == 0
    assert report(token, task["id"], "complete").status_code == 409


def test_progress_renews_the_lease(olga, docs):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")
    first = Task.objects.get(pk=task["id"]).lease_expires_at

    report(token, task["id"], "progress", {"progress": 10})

    assert Task.objects.get(pk=task["id"]).lease_expires_at > first


def test_a_retryable_failure_waits_its_backoff(olga, docs):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    failed = report(token, task["id"], "fail", {"error": "disk full"})

    assert failed.json()["status"] == S.SCHEDULED
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 0


def test_deregistering_takes_an_offline_unit_without_work(settings, olga, docs):
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    unit, _ = register("worker-001", heartbeat_timeout=5)
    client = api_client(olga)

    assert client.delete("/api/v1/execution-units/worker-001").status_code == 409
    services.units_sweep(now=timezone.now() + timedelta(seconds=6))
    assert client.delete("/api/v1/execution-units/worker-001").status_code == 204
    assert not ExecutionUnit.objects.filter(pk=unit.pk).exists()


def settings_lease() -> int:
    from django.conf import settings

    return settings.UNIT_LEASE_SECONDS


def test_many_results_at_once_each_stand_alone(olga, docs):
    for _ in range(3):
        create_task(by=olga, task_type=docs)
    _, token = register("worker-001", capacity=3)
    a, b, c = (t["id"] for t in claim(token, "worker-001", n=3))
    stranger = str(create_task(by=olga, task_type=docs).pk)  # queued, not held

    response = unit_client(token).post("/api/v1/execution-units/worker-001/results", {
        "results": [
            {"task_id": a, "outcome": "completed", "result": {"n": 1}},
            {"task_id": b, "outcome": "failed", "error": "bad input", "retryable": False},
            {"task_id": c, "outcome": "failed", "error": "timeout"},
            {"task_id": stranger, "outcome": "completed"},
        ]})

    assert response.status_code == 200
    statuses = [(r["task_id"], r["status"]) for r in response.json()["results"]]
    assert statuses == [(a, S.COMPLETED), (b, S.FAILED), (c, S.SCHEDULED),
                        (stranger, "conflict")]
    assert Task.objects.get(pk=stranger).status == S.QUEUED
    assert ExecutionUnit.objects.get(unit_id="worker-001").held == 0


def test_a_failure_that_retrying_cannot_help_ends_failed_at_once(olga, docs):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    failed = report(token, task["id"], "fail", {"error": "corrupt file", "retryable": False})

    assert failed.json()["status"] == S.FAILED


def test_results_in_a_batch_release_the_tasks_waiting_on_them(olga, docs):
    first = create_task(by=olga, task_type=docs)
    waiting = create_task(by=olga, task_type=docs, depends_on=[first.pk])
    assert Task.objects.get(pk=waiting.pk).status == S.BLOCKED
    _, token = register("worker-001")
    (task,) = claim(token, "worker-001")

    unit_client(token).post("/api/v1/execution-units/worker-001/results", {
        "results": [{"task_id": task["id"], "outcome": "completed"}]})

    assert Task.objects.get(pk=waiting.pk).status == S.QUEUED
    assert list(TaskHistory.objects.filter(task=first).values_list("transition", flat=True)) == [
        "create", "assign", "start", "complete"]


def test_a_units_task_running_past_its_timeout_fails_into_its_retry(olga):
    timed = make_task_type("timed", assignee_kind="unit", timeout=30, max_retries=1)
    patient = make_task_type("patient", assignee_kind="unit", timeout=3600)
    create_task(by=olga, task_type=timed)
    create_task(by=olga, task_type=patient)
    _, token = register("worker-001", unit_type="timed", heartbeat_timeout=3600)
    _, other = register("worker-002", unit_type="patient", heartbeat_timeout=3600)
    (task,) = claim(token, "worker-001")
    (still,) = claim(other, "worker-002")

    swept = services.units_sweep(now=timezone.now() + timedelta(seconds=31))

    assert swept.timed_out == 1
    assert Task.objects.get(pk=still["id"]).status == S.RUNNING  # its type allows an hour
    retried = Task.objects.get(pk=task["id"])
    assert retried.status == S.SCHEDULED and retried.error.startswith("timeout")
    assert report(token, task["id"], "complete").status_code == 409


def test_the_same_task_twice_in_a_batch_is_refused_and_capacity_stays_exact(olga, docs):
    create_task(by=olga, task_type=docs)
    unit, token = register("worker-001")
    (task,) = claim(token, "worker-001")
    twice = [{"task_id": task["id"], "outcome": "completed"}] * 2

    response = unit_client(token).post("/api/v1/execution-units/worker-001/results",
                                       {"results": twice})
    direct = services.unit_report_results(unit=unit, results=twice,
                                          by=services.unit_actor(unit=unit))

    assert response.status_code == 400 and "results" in response.json()
    assert [o.status for o in direct] == [S.COMPLETED, "conflict"]
    assert ExecutionUnit.objects.get(pk=unit.pk).held == 0


def test_reconciling_corrects_only_the_units_whose_held_count_drifted(olga, docs):
    create_task(by=olga, task_type=docs)
    busy, token = register("worker-001")
    idle, _ = register("worker-002")
    claim(token, "worker-001")
    # The drift the sweep exists for: a count written by hand (a task deleted, a bug).
    ExecutionUnit.objects.filter(pk=busy.pk).update(held=2)

    assert services.units_reconcile_held() == 1

    held = dict(ExecutionUnit.objects.values_list("unit_id", "held"))
    assert held == {"worker-001": 1, "worker-002": 0}
    assert services.units_reconcile_held() == 0


def test_a_unit_gives_back_what_it_holds_to_the_queue_without_a_failure(olga, docs):
    tasks = [create_task(by=olga, task_type=docs) for _ in range(2)]
    unit, token = register("worker-001", capacity=2)
    _, other_token = register("worker-002")
    claim(token, "worker-001", n=2)
    stranger = create_task(by=olga, task_type=docs)  # queued, not held by worker-001

    response = unit_client(token).post(
        "/api/v1/execution-units/worker-001/give-back",
        {"task_ids": [str(tasks[0].pk), str(stranger.pk)], "reason": "shutting down"},
        format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"given_back": [str(tasks[0].pk)]}
    given = Task.objects.get(pk=tasks[0].pk)
    assert (given.status, given.assignee_unit, given.error) == (S.QUEUED, None, "")
    assert given.history.last().reason == "given back by its unit: shutting down"
    assert Task.objects.get(pk=tasks[1].pk).status == S.RUNNING  # not asked for: kept
    assert ExecutionUnit.objects.get(pk=unit.pk).held == 1
    # Another unit's token, a person, nobody: not theirs to give back.
    body = {"task_ids": [str(tasks[1].pk)]}
    path = "/api/v1/execution-units/worker-001/give-back"
    assert unit_client(other_token).post(path, body, format="json").status_code == 403
    assert api_client(olga).post(path, body, format="json").status_code == 403
    assert APIClient().post(path, body, format="json").status_code == 401
    for bad in ({"task_ids": []}, {"task_ids": ["nope"]}, {}):
        reply = unit_client(token).post(path, bad, format="json")
        assert reply.status_code == 400 and "task_ids" in reply.json(), bad
    assert Task.objects.get(pk=tasks[1].pk).status == S.RUNNING
