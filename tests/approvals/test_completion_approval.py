"""Completion approval end to end: alice submits her work, a decider answers through the API."""

from __future__ import annotations

import pytest

from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.models import TaskHistory
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_task_type

S = TaskStatus
pytestmark = pytest.mark.django_db


def _running_report(*, rita, alice, needs_review):
    task = create_task(by=rita, task_type=needs_review, title="quarterly report")
    services.task_assign(task_id=task.pk, user=alice, by=Actor.system("test"))
    services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(alice))
    return task


def test_completing_work_that_needs_review_opens_a_request_by_the_assignee(
        rita, alice, needs_review):
    task = _running_report(rita=rita, alice=alice, needs_review=needs_review)

    resp = api_client(alice).post(f"/api/v1/tasks/{task.pk}/complete", {"result": {"ok": 1}})

    assert resp.status_code == 200 and resp.json()["status"] == S.IN_REVIEW
    request = ApprovalRequest.objects.get(task=task)
    assert (request.kind, request.status, request.requester) == ("completion", "pending", alice)


def test_submitting_for_review_opens_the_request_too(rita, alice, needs_review):
    task = _running_report(rita=rita, alice=alice, needs_review=needs_review)
    assert api_client(alice).post(f"/api/v1/tasks/{task.pk}/submit", {}).status_code == 200
    assert ApprovalRequest.objects.get(task=task).kind == "completion"


def test_the_team_manager_approves_and_the_task_is_completed(
        alice, margaret, submitted, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(margaret).post(f"/api/v1/approvals/{submitted.pk}/approve",
                                         {"comment": "well done"})

    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["task"]["status"]) == ("approved", S.COMPLETED)
    task = submitted.task
    task.refresh_from_db()
    assert (task.status, task.progress, task.result) == (S.COMPLETED, 100, {"pages": 3})
    row = TaskHistory.objects.filter(task=task).latest("id")
    assert (row.transition, row.actor_user, row.reason) == ("approve_review", margaret,
                                                            "well done")
    assert [m.to for m in mailoutbox] == [[alice.email]]


def test_rejection_sends_the_work_back_with_the_comment_in_history_and_logs(
        alice, amos, submitted, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(amos).post(f"/api/v1/approvals/{submitted.pk}/reject",
                                     {"comment": "the totals do not add up"})

    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["task"]["status"]) == ("rejected", S.RUNNING)
    task = submitted.task
    task.refresh_from_db()
    assert (task.status, task.assignee_user) == (S.RUNNING, alice)
    # alice, reworking, sees why in the task's history and in its logs.
    alice_api = api_client(alice)
    last = alice_api.get(f"/api/v1/tasks/{task.pk}/history").json()["results"][-1]
    assert (last["transition"], last["reason"]) == ("reject_review", "the totals do not add up")
    logs = alice_api.get(f"/api/v1/tasks/{task.pk}/logs").json()["results"]
    assert [(line["level"], line["message"]) for line in logs] == [
        ("warning", "Review rejected by amos: the totals do not add up")]
    assert "the totals do not add up" in mailoutbox[0].body


def test_reworked_work_submitted_again_opens_a_new_request(alice, amos, submitted):
    api_client(amos).post(f"/api/v1/approvals/{submitted.pk}/reject", {"comment": "redo"})

    resp = api_client(alice).post(f"/api/v1/tasks/{submitted.task_id}/complete", {})

    assert resp.json()["status"] == S.IN_REVIEW
    statuses = list(ApprovalRequest.objects.filter(task_id=submitted.task_id)
                    .order_by("id").values_list("status", flat=True))
    assert statuses == ["rejected", "pending"]


def test_a_task_needing_both_approvals_goes_through_both(rita, alice, margaret, amos):
    both = make_task_type("audit", requires_creation_approval=True,
                          requires_completion_approval=True)
    task = create_task(by=rita, task_type=both)
    first = ApprovalRequest.objects.get(task=task)
    assert api_client(margaret).post(f"/api/v1/approvals/{first.pk}/approve").status_code == 200
    services.task_assign(task_id=task.pk, user=alice, by=Actor.system("test"))
    services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(alice))
    services.task_complete(task_id=task.pk, by=Actor.for_user(alice))
    second = ApprovalRequest.objects.get(task=task, kind="completion")

    assert api_client(amos).post(f"/api/v1/approvals/{second.pk}/approve").status_code == 200

    task.refresh_from_db()
    assert task.status == S.COMPLETED
    assert list(ApprovalRequest.objects.filter(task=task).order_by("id").values_list(
        "kind", "status")) == [("creation", "approved"), ("completion", "approved")]
