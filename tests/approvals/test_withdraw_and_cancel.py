"""Taking a request back, and what cancelling a waiting task does to its request."""

from __future__ import annotations

import pytest

from apps.approvals import services
from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput, PermissionDenied
from apps.tasks.models import TaskHistory
from apps.tasks.states import TaskStatus
from tests.builders import api_client

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_the_requester_withdraws_a_creation_request_and_the_task_is_cancelled(rita, asked):
    resp = api_client(rita).post(f"/api/v1/approvals/{asked.pk}/withdraw",
                                 {"comment": "bought it elsewhere"})

    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["task"]["status"]) == ("withdrawn", S.CANCELLED)
    row = TaskHistory.objects.filter(task_id=asked.task_id).latest("id")
    assert (row.transition, row.actor_user, row.reason) == ("cancel", rita,
                                                            "bought it elsewhere")


def test_the_assignee_withdraws_a_completion_request_and_gets_the_task_back(alice, submitted):
    resp = api_client(alice).post(f"/api/v1/approvals/{submitted.pk}/withdraw", {})

    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["task"]["status"]) == ("withdrawn", S.RUNNING)
    submitted.task.refresh_from_db()
    assert submitted.task.assignee_user == alice


def test_only_the_requester_withdraws(margaret, olga, asked):
    assert api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/withdraw").status_code == 403
    assert api_client(olga).post(f"/api/v1/approvals/{asked.pk}/withdraw").status_code == 403
    asked.refresh_from_db()
    assert asked.status == "pending"


def test_a_withdrawn_request_cannot_be_approved(rita, margaret, asked):
    api_client(rita).post(f"/api/v1/approvals/{asked.pk}/withdraw")
    assert api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve").status_code == 409


def test_cancelling_a_waiting_task_withdraws_its_request(
        rita, asked, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(rita).post(f"/api/v1/tasks/{asked.task_id}/cancel",
                                     {"reason": "not needed"})

    assert resp.status_code == 200 and resp.json()["status"] == S.CANCELLED
    asked.refresh_from_db()
    assert (asked.status, asked.decider, asked.comment) == ("withdrawn", rita, "not needed")
    assert asked.decided_at is not None
    assert mailoutbox == []  # rita cancelled it herself: nobody to tell


def test_cancelling_a_task_in_review_withdraws_the_review_and_tells_the_assignee(
        alice, margaret, submitted, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(margaret).post(f"/api/v1/tasks/{submitted.task_id}/cancel", {})

    assert resp.json()["status"] == S.CANCELLED
    submitted.refresh_from_db()
    assert (submitted.status, submitted.decider) == ("withdrawn", margaret)
    assert [m.to for m in mailoutbox] == [[alice.email]]
    assert "withdrawn by margaret" in mailoutbox[0].body


def test_the_service_checks_permission_whoever_calls_it(alice, asked):
    with pytest.raises(PermissionDenied):
        services.approval_withdraw(request_id=asked.pk, by=Actor.for_user(alice))


def test_a_rejection_without_a_reason_is_refused_by_the_service(amos, asked):
    with pytest.raises(InvalidInput):
        services.approval_reject(request_id=asked.pk, by=Actor.for_user(amos), comment="  ")
    assert ApprovalRequest.objects.get(pk=asked.pk).status == "pending"
