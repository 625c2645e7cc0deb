"""The approvals inbox in the admin: read-only requests, decisions by bulk action only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.staff.services import staff_update
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from tests.approvals.flows import completion_request, creation_request

S = TaskStatus
pytestmark = pytest.mark.django_db
INBOX = "/admin/approvals/approvalrequest/"


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def _status(request: ApprovalRequest) -> str:
    return ApprovalRequest.objects.values_list("status", flat=True).get(pk=request.pk)


def test_bulk_approve_decides_each_request_and_counts_the_refusals(
        client, operator, rita, alice, needs_approval, asked, submitted):
    own = creation_request(by=operator, task_type=needs_approval)  # olga's own: refused

    resp = client.post(INBOX, {"action": "approve_selected",
                               "_selected_action": [asked.pk, submitted.pk, own.pk]},
                       follow=True)

    text = resp.content.decode()
    assert "2 requests approved." in text
    assert "1 request refused: already decided, or your own request or work." in text
    assert (_status(asked), _status(submitted), _status(own)) == (
        "approved", "approved", "pending")
    assert Task.objects.get(pk=asked.task_id).status == S.QUEUED
    assert Task.objects.get(pk=submitted.task_id).status == S.COMPLETED
    row = TaskHistory.objects.filter(task_id=asked.task_id).latest("id")
    assert (row.transition, row.actor_user) == ("approve", operator)


def test_bulk_approve_of_requests_already_decided_refuses_them_all(
        client, operator, margaret, asked):
    services.approval_reject(request_id=asked.pk, by=Actor.for_user(margaret), comment="no")
    resp = client.post(INBOX, {"action": "approve_selected", "_selected_action": [asked.pk]},
                       follow=True)
    text = resp.content.decode()
    assert "0 requests approved." in text and "1 request refused" in text
    assert _status(asked) == "rejected"


def test_bulk_reject_asks_why_then_rejects_with_that_comment(client, operator, alice,
                                                             asked, submitted):
    selected = {"action": "reject_selected", "_selected_action": [asked.pk, submitted.pk]}

    page = client.post(INBOX, selected)
    assert page.status_code == 200
    assert "Comment (required)" in page.content.decode()
    assert _status(asked) == "pending"

    missing = client.post(INBOX, {**selected, "apply": "1", "comment": ""})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    assert _status(asked) == "pending"

    done = client.post(INBOX, {**selected, "apply": "1", "comment": "not this quarter"},
                       follow=True)
    assert "2 requests rejected." in done.content.decode()
    assert (_status(asked), _status(submitted)) == ("rejected", "rejected")
    created = TaskHistory.objects.filter(task_id=asked.task_id).latest("id")
    assert (created.to_status, created.reason) == (S.REJECTED, "not this quarter")
    reviewed = Task.objects.get(pk=submitted.task_id)
    assert reviewed.status == S.RUNNING
    assert reviewed.logs.get().message == "Review rejected by olga: not this quarter"


def test_the_inbox_lists_filters_and_searches(client, operator, asked, submitted):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(minutes=5))

    page = client.get(INBOX)
    assert page.status_code == 200
    text = page.content.decode()
    assert "buy a server" in text and "quarterly report" in text

    def listed(query):
        resp = client.get(INBOX + query)
        assert resp.status_code == 200
        return {r.pk for r in resp.context["cl"].result_list}

    assert listed("?overdue=yes") == {asked.pk}
    assert listed("?overdue=no") == {submitted.pk}
    assert listed("?kind__exact=completion") == {submitted.pk}
    assert listed("?status__exact=pending") == {asked.pk, submitted.pk}
    assert listed("?q=quarterly") == {submitted.pk}
    assert listed("?q=rita") == {asked.pk}


def test_the_inbox_costs_the_same_queries_for_few_or_many_requests(
        client, operator, rita, alice, needs_approval, needs_review):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(INBOX).status_code == 200
        return len(ctx.captured_queries)

    creation_request(by=rita, task_type=needs_approval)
    few = queries()
    staff_update(staff=alice.staff, capacity=5)  # she holds each report she submits
    for _ in range(5):
        creation_request(by=rita, task_type=needs_approval)
        completion_request(creator=rita, assignee=alice, task_type=needs_review)
    assert queries() == few


def test_a_request_page_is_read_only(client, operator, asked):
    url = f"{INBOX}{asked.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    client.post(url, {"status": "approved", "comment": "sneaky"})
    asked.refresh_from_db()
    assert (asked.status, asked.comment) == ("pending", "")
    assert client.get(f"{INBOX}add/").status_code == 403
    assert client.get(f"{INBOX}{asked.pk}/delete/").status_code == 403


def test_the_task_page_offers_no_approve_or_reject_button_and_shows_the_request(
        client, operator, asked):
    page = client.get(f"/admin/tasks/task/{asked.task_id}/change/").content.decode()
    assert 'data-transition="approve"' not in page and 'data-transition="reject"' not in page
    assert 'data-transition="cancel"' in page
    assert "approval request" in page.lower()
    resp = client.post(f"/admin/tasks/task/{asked.task_id}/transition/approve/")
    assert resp.status_code == 403
    assert Task.objects.get(pk=asked.task_id).status == S.PENDING_APPROVAL


def test_non_operators_have_no_inbox(client, amos, asked):
    client.force_login(amos)
    resp = client.get(INBOX)
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
