"""My tasks (work one's own tasks, request leave) and the approvals inbox, through the pages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.staff.models import Leave
from apps.tasks.states import TaskStatus
from tests.builders import make_leave, make_task_type, task_in_state

from .conftest import buttons, decisions, page_messages, signed_in

pytestmark = pytest.mark.django_db
S = TaskStatus
MY = "/my/tasks/"


def act(client, task, action, **extra):
    return client.post(f"/tasks/{task.pk}/act/", {"action": action, "next": MY, **extra},
                       follow=True)


def test_a_staff_member_works_a_task_through_to_review_from_my_tasks(rita, alice):
    kind = make_task_type(requires_completion_approval=True)
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice, task_type=kind,
                         title="Close the books")
    client = signed_in(alice)

    listed = client.get(MY).content.decode()
    steps = [act(client, task, "accept"), act(client, task, "pause"),
             act(client, task, "resume")]
    progress = client.post(f"/tasks/{task.pk}/progress/", {"progress": "70", "next": MY},
                           follow=True)
    logged = client.post(f"/tasks/{task.pk}/log/",
                         {"level": "info", "message": "ledger reconciled", "next": MY},
                         follow=True)
    submitted = act(client, task, "submit")

    assert "Close the books" in listed and buttons(listed) == ["accept", "decline", "start",
                                                               "fail"]
    assert all(r.redirect_chain[-1][0] == MY for r in [*steps, progress, logged, submitted])
    task.refresh_from_db()
    assert task.status == S.IN_REVIEW and task.progress == 70
    assert list(task.logs.values_list("message", flat=True)) == ["ledger reconciled"]
    assert [h.transition for h in task.history.order_by("id")][-4:] == [
        "accept", "pause", "resume", "submit_for_review"]
    assert ApprovalRequest.objects.filter(task=task, status=ApprovalStatus.PENDING).exists()


def test_declining_hands_the_task_back(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)
    client = signed_in(alice)

    response = act(client, task, "decline", reason="not my area")

    task.refresh_from_db()
    assert task.status == S.QUEUED and task.assignee_user is None
    assert "Done: decline." in page_messages(response)
    assert "not my area" in task.history.latest("id").reason


def test_my_tasks_shows_only_my_own_open_work(rita, alice, mallory):
    task_in_state(S.RUNNING, creator=rita, assignee=alice, title="alice's job")
    task_in_state(S.COMPLETED, creator=rita, assignee=alice, title="done and gone")

    mine = signed_in(alice).get(MY).content.decode()
    theirs = signed_in(mallory).get(MY).content.decode()

    assert "alice&#x27;s job" in mine and "done and gone" not in mine
    assert "alice&#x27;s job" not in theirs and "You hold no open tasks." in theirs


def test_my_tasks_costs_the_same_for_one_task_or_five(rita, alice):
    kind = make_task_type()
    client = signed_in(alice)
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
    client.get(MY)
    with CaptureQueriesContext(connection) as one:
        client.get(MY)
    alice.staff.capacity = 9
    alice.staff.save()
    for _ in range(2):
        task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
        task_in_state(S.ASSIGNED, creator=rita, assignee=alice, task_type=kind)
    with CaptureQueriesContext(connection) as five:
        client.get(MY)

    assert len(five.captured_queries) == len(one.captured_queries)


# --- leave -----------------------------------------------------------------------------------
def test_requesting_leave(alice, rita):
    response = signed_in(alice).post("/my/leave/", {
        "start": "2031-03-01T09:00", "end": "2031-03-08T18:00", "reason": "holiday",
        "substitute": rita.staff.pk,
    }, follow=True)

    leave = Leave.objects.get(staff=alice.staff)
    assert (leave.reason, leave.substitute_id) == ("holiday", rita.staff.pk)
    assert "Leave requested." in page_messages(response)
    assert "2031-03-01 09:00" in response.content.decode()


@pytest.mark.parametrize(("data", "field"), [
    ({"start": "2031-03-08T09:00", "end": "2031-03-01T09:00"}, "end"),
    ({"start": "2031-03-01T09:00"}, "end"),
    ({"start": "soon", "end": "2031-03-01T09:00"}, "start"),
    ({"start": "2031-03-01T09:00", "end": "2031-03-02T09:00", "substitute": "999999999"},
     "substitute"),
])
def test_a_bad_leave_is_shown_on_its_field(alice, data, field):
    response = signed_in(alice).post("/my/leave/", data)

    assert response.status_code == 400
    assert response.context["leave_form"].errors[field]
    assert not Leave.objects.filter(staff=alice.staff).exists()


def test_an_overlapping_leave_is_refused_by_the_service_rule(alice):
    existing = make_leave(alice.staff, days_from_now=30, days=5)
    start = existing.start.strftime("%Y-%m-%dT%H:%M")

    response = signed_in(alice).post("/my/leave/", {"start": start, "end": "2099-01-01T00:00"})

    assert response.status_code == 400
    assert "Overlaps leave" in str(response.context["leave_form"].errors["start"])


def test_someone_who_is_not_staff_has_no_leave_to_request(margaret):
    client = signed_in(margaret)

    page = client.get(MY)
    posted = client.post("/my/leave/", {"start": "2031-03-01T09:00",
                                        "end": "2031-03-02T09:00"})

    assert page.status_code == 200 and "Request leave" not in page.content.decode()
    assert posted.status_code == 403


def test_leave_needs_a_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/my/leave/", {"start": "2031-03-01T09:00",
                                          "end": "2031-03-02T09:00"})

    assert response.status_code == 403


# --- approvals -------------------------------------------------------------------------------
@pytest.fixture
def in_review(rita, alice):
    kind = make_task_type(requires_completion_approval=True)
    return task_in_state(S.IN_REVIEW, creator=rita, assignee=alice, task_type=kind,
                         title="Review me")


def pending_of(task) -> ApprovalRequest:
    return ApprovalRequest.objects.get(task=task, status=ApprovalStatus.PENDING)


def test_a_manager_approves_with_a_comment_in_the_inbox(margaret, in_review):
    request = pending_of(in_review)
    client = signed_in(margaret)

    inbox = client.get("/approvals/").content.decode()
    response = client.post(f"/approvals/{request.pk}/decide/",
                           {"decision": "approve", "comment": "well done"}, follow=True)

    assert "Review me" in inbox and decisions(inbox) == ["approve", "reject"]
    request.refresh_from_db()
    in_review.refresh_from_db()
    assert (request.status, request.comment, request.decider) == ("approved", "well done",
                                                                  margaret)
    assert in_review.status == S.COMPLETED
    assert f"Request #{request.pk} approved." in page_messages(response)
    assert "Review me" not in response.content.decode()  # decided: out of the inbox


def test_a_rejection_must_say_why(margaret, in_review):
    request = pending_of(in_review)

    response = signed_in(margaret).post(f"/approvals/{request.pk}/decide/",
                                        {"decision": "reject", "comment": "  "}, follow=True)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert any("Say why you reject it" in m for m in page_messages(response))


def test_a_rejection_sends_the_work_back(margaret, in_review):
    request = pending_of(in_review)

    signed_in(margaret).post(f"/approvals/{request.pk}/decide/",
                             {"decision": "reject", "comment": "totals are off"})

    in_review.refresh_from_db()
    assert in_review.status == S.RUNNING


def test_the_worker_may_withdraw_her_own_request_but_not_decide_it(alice, in_review):
    html = signed_in(alice).get("/approvals/").content.decode()

    assert "Review me" in html and decisions(html) == ["withdraw"]


def test_mallory_sees_no_request_and_cannot_decide_one(mallory, in_review):
    request = pending_of(in_review)
    client = signed_in(mallory)

    html = client.get("/approvals/").content.decode()
    response = client.post(f"/approvals/{request.pk}/decide/", {"decision": "approve"})

    assert "Review me" not in html
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_someone_who_sees_but_may_not_decide_gets_a_403(alice, in_review):
    request = pending_of(in_review)

    response = signed_in(alice).post(f"/approvals/{request.pk}/decide/",
                                     {"decision": "approve"})

    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_a_decision_already_taken_is_a_message(margaret, amos, in_review):
    request = pending_of(in_review)
    signed_in(amos).post(f"/approvals/{request.pk}/decide/", {"decision": "approve"})

    response = signed_in(margaret).post(f"/approvals/{request.pk}/decide/",
                                        {"decision": "approve"}, follow=True)

    assert response.status_code == 200
    assert any("already approved" in m for m in page_messages(response))


def test_a_bad_inbox_filter_is_a_400_on_its_field(margaret):
    response = signed_in(margaret).get("/approvals/?kind=sideways")

    assert response.status_code == 400
    assert response.context["filters"].errors["kind"]


def test_deciding_needs_a_csrf_token(margaret, in_review):
    client = Client(enforce_csrf_checks=True)
    client.force_login(margaret)

    response = client.post(f"/approvals/{pending_of(in_review).pk}/decide/",
                           {"decision": "approve"})

    assert response.status_code == 403


# --- the dashboard ---------------------------------------------------------------------------
def test_the_dashboard_shows_counts_by_status_to_managers_only(margaret, rita, alice, mallory):
    task_in_state(S.RUNNING, creator=rita, assignee=alice)
    task_in_state(S.QUEUED, creator=rita)

    managers = signed_in(margaret).get("/dashboard/").content.decode()
    outsiders = signed_in(mallory).get("/dashboard/").content.decode()

    assert "Tasks by status" in managers and 'href="/tasks/?status=running"' in managers
    assert "Tasks by status" not in outsiders


def test_the_dashboard_counts_are_shared_not_recounted_per_view(margaret, rita):
    client = signed_in(margaret)
    client.get("/dashboard/")
    task_in_state(S.QUEUED, creator=rita)

    with CaptureQueriesContext(connection) as ctx:
        client.get("/dashboard/")

    assert not [q for q in ctx.captured_queries if "GROUP BY" in q["sql"].upper()
                and "tasks_task" in q["sql"]]
