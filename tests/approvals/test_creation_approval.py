"""Creation approval end to end: rita asks through the API, a decider answers through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.approvals.models import ApprovalKind, ApprovalRequest
from apps.core.actors import Actor
from apps.tasks import services as task_services
from apps.tasks.models import TaskHistory
from apps.tasks.states import TaskStatus
from tests.approvals.flows import creation_request
from tests.builders import api_client, create_task

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_a_task_that_needs_approval_waits_with_a_pending_request(rita, needs_approval):
    resp = api_client(rita).post("/api/v1/tasks", {"title": "buy a server",
                                                   "task_type": "purchase"})
    assert resp.status_code == 201 and resp.json()["status"] == S.PENDING_APPROVAL

    request = ApprovalRequest.objects.get(task_id=resp.json()["id"])
    assert (request.kind, request.status, request.requester) == (
        ApprovalKind.CREATION, "pending", rita)
    assert request.decider is None and request.decided_at is None
    assert request.due_at > request.created_at


def test_a_batch_opens_one_request_per_task_that_needs_approval(rita, needs_approval):
    resp = api_client(rita).post("/api/v1/tasks/batch", {"tasks": [
        {"title": "a", "task_type": "purchase"},
        {"title": "b", "task_type": "purchase"},
        {"title": "c", "task_type": "purchase", "draft": True},
    ]})
    assert resp.status_code == 201
    assert ApprovalRequest.objects.filter(kind="creation", status="pending").count() == 2


def test_a_task_that_needs_no_approval_opens_no_request(rita):
    create_task(by=rita)
    assert not ApprovalRequest.objects.exists()


def test_submitting_a_draft_opens_the_request(rita, needs_approval):
    draft = create_task(by=rita, task_type=needs_approval, draft=True)
    assert not ApprovalRequest.objects.exists()

    api_client(rita).post(f"/api/v1/tasks/{draft.pk}/submit", {})

    request = ApprovalRequest.objects.get(task=draft)
    assert (request.kind, request.requester) == ("creation", rita)


def test_the_team_manager_approves_and_the_task_is_released(
        rita, margaret, asked, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve",
                                         {"comment": "budget is there"})

    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["status"], body["decider"], body["comment"]) == (
        "approved", "margaret", "budget is there")
    assert body["task"]["status"] == S.QUEUED and body["allowed_actions"] == []
    asked.task.refresh_from_db()
    assert asked.task.status == S.QUEUED
    row = TaskHistory.objects.filter(task=asked.task).latest("id")
    assert (row.transition, row.actor_user, row.reason) == ("approve", margaret,
                                                            "budget is there")
    # The requester hears of it by mail, once the decision is committed.
    assert callbacks
    assert [m.to for m in mailoutbox] == [[rita.email]]
    assert "approved by margaret" in mailoutbox[0].body
    assert "budget is there" in mailoutbox[0].body


def test_an_approved_task_that_waits_for_its_run_at_is_scheduled(rita, amos, needs_approval):
    request = creation_request(by=rita, task_type=needs_approval,
                               run_at=timezone.now() + timedelta(hours=2))
    assert api_client(amos).post(f"/api/v1/approvals/{request.pk}/approve").status_code == 200
    request.task.refresh_from_db()
    assert request.task.status == S.SCHEDULED


def test_rejection_ends_the_task_rejected_with_the_comment_in_its_history(
        rita, amos, asked, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(amos).post(f"/api/v1/approvals/{asked.pk}/reject",
                                     {"comment": "no budget this quarter"})

    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["task"]["status"]) == ("rejected", S.REJECTED)
    history = api_client(rita).get(f"/api/v1/tasks/{asked.task_id}/history").json()["results"]
    last = history[-1]
    assert (last["transition"], last["to_status"], last["reason"]) == (
        "reject", S.REJECTED, "no budget this quarter")
    assert last["actor"]["name"] == "amos"
    assert "rejected by amos" in mailoutbox[0].body
    assert "no budget this quarter" in mailoutbox[0].body


def test_an_admin_decides_any_request(olga, asked):
    resp = api_client(olga).post(f"/api/v1/approvals/{asked.pk}/approve", {})
    assert resp.status_code == 200 and resp.json()["decider"] == "olga"


def test_a_decided_request_cannot_be_decided_again(margaret, amos, asked):
    assert api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve").status_code == 200

    resp = api_client(amos).post(f"/api/v1/approvals/{asked.pk}/reject", {"comment": "no"})

    assert resp.status_code == 409
    assert resp.json()["status"] == "approved"
    asked.refresh_from_db()
    assert (asked.status, asked.decider) == ("approved", margaret)


def test_a_task_approved_outside_the_inbox_takes_its_request_along(rita, asked):
    """The request never outlives the wait it stands for, whatever moved the task."""
    task_services.task_transition(task_id=asked.task_id, action="approve",
                                  by=Actor.system("migration"), reason="bulk import")
    asked.refresh_from_db()
    assert (asked.status, asked.comment) == ("approved", "bulk import")


def test_a_mail_that_fails_does_not_undo_the_decision(
        margaret, asked, monkeypatch, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise ConnectionRefusedError("smtp is down")

    monkeypatch.setattr("apps.approvals.subscribers.send_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve")
    assert resp.status_code == 200
    asked.refresh_from_db()
    assert asked.status == "approved"


def test_the_decision_is_announced_for_the_live_pages(
        margaret, asked, django_capture_on_commit_callbacks):
    from apps.core.events import subscribe

    seen = []

    @subscribe("approval.decided")
    def collect(name, payload):
        seen.append(payload)

    try:
        with django_capture_on_commit_callbacks(execute=True):
            api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve")
    finally:
        from apps.core.events import _subscribers

        _subscribers["approval.decided"].remove(collect)
    assert [(p["request_id"], p["status"], p["actor"]) for p in seen] == [
        (asked.pk, "approved", "margaret")]
