"""Who may see and decide: approvers, the team's manager, admins; never on one's own ask or work."""

from __future__ import annotations

import pytest

from apps.approvals.models import ApprovalRequest
from apps.approvals.policies import may_decide
from apps.core.actors import Actor
from apps.staff.services import staff_enrol
from apps.tasks import services
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from tests.approvals.flows import completion_request, creation_request
from tests.builders import api_client, create_task

S = TaskStatus
pytestmark = pytest.mark.django_db


def _unchanged(request: ApprovalRequest, task_status: str) -> None:
    request.refresh_from_db()
    assert (request.status, request.decider, request.decided_at) == ("pending", None, None)
    assert Task.objects.get(pk=request.task_id).status == task_status


def test_the_requester_cannot_approve_their_own_request(rita, asked):
    history = TaskHistory.objects.filter(task_id=asked.task_id).count()

    resp = api_client(rita).post(f"/api/v1/approvals/{asked.pk}/approve")

    assert resp.status_code == 403
    assert "own" in resp.json()["detail"]
    _unchanged(asked, S.PENDING_APPROVAL)
    assert TaskHistory.objects.filter(task_id=asked.task_id).count() == history


def test_the_assignee_cannot_approve_the_completion_of_their_own_work(alice, submitted):
    resp = api_client(alice).post(f"/api/v1/approvals/{submitted.pk}/approve")
    assert resp.status_code == 403
    _unchanged(submitted, S.IN_REVIEW)


def test_an_admin_cannot_approve_their_own_request_either(olga, needs_approval):
    own = creation_request(by=olga, task_type=needs_approval)
    resp = api_client(olga).post(f"/api/v1/approvals/{own.pk}/approve")
    assert resp.status_code == 403
    _unchanged(own, S.PENDING_APPROVAL)


def test_an_approver_in_the_group_cannot_approve_what_they_asked_for(amos, needs_approval):
    own = creation_request(by=amos, task_type=needs_approval)
    assert api_client(amos).post(f"/api/v1/approvals/{own.pk}/approve").status_code == 403


def test_a_manager_cannot_approve_their_own_work_even_in_their_team(
        margaret, alice, rita, needs_review, platform):
    staff_enrol(user=margaret, team=platform, capacity=5)
    own = completion_request(creator=rita, assignee=margaret, task_type=needs_review)
    assert api_client(margaret).post(f"/api/v1/approvals/{own.pk}/approve").status_code == 403


def test_a_plain_staff_member_cannot_approve_what_they_can_see(rita, submitted):
    """rita asked for the report, so she sees its review; deciding it is not hers."""
    client = api_client(rita)
    detail = client.get(f"/api/v1/approvals/{submitted.pk}")
    assert detail.status_code == 200 and detail.json()["allowed_actions"] == []

    resp = client.post(f"/api/v1/approvals/{submitted.pk}/approve")

    assert resp.status_code == 403
    _unchanged(submitted, S.IN_REVIEW)


def test_an_outsider_cannot_see_the_request(mallory, asked, submitted):
    client = api_client(mallory)
    assert client.get(f"/api/v1/approvals/{asked.pk}").status_code == 404
    assert client.get("/api/v1/approvals").json()["results"] == []
    assert client.post(f"/api/v1/approvals/{asked.pk}/approve").status_code == 404
    _unchanged(asked, S.PENDING_APPROVAL)


def test_another_teams_manager_neither_sees_nor_decides(sam, support, asked):
    client = api_client(sam)
    assert client.get(f"/api/v1/approvals/{asked.pk}").status_code == 404
    assert client.post(f"/api/v1/approvals/{asked.pk}/reject", {"comment": "x"}).status_code \
        == 404


def test_anonymous_callers_are_refused(asked):
    client = api_client()
    assert client.get("/api/v1/approvals").status_code == 401
    assert client.get(f"/api/v1/approvals/{asked.pk}").status_code == 401
    assert client.post(f"/api/v1/approvals/{asked.pk}/approve").status_code == 401


def test_each_caller_sees_what_they_may_do(rita, alice, amos, margaret, olga, asked, submitted):
    def actions(user, request):
        return api_client(user).get(f"/api/v1/approvals/{request.pk}").json()["allowed_actions"]

    assert actions(rita, asked) == ["withdraw"]
    assert actions(margaret, asked) == actions(amos, asked) == actions(olga, asked) == [
        "approve", "reject"]
    assert actions(alice, submitted) == ["withdraw"]
    assert actions(margaret, submitted) == ["approve", "reject"]


def test_the_list_holds_what_one_may_decide_plus_ones_own(
        rita, alice, margaret, amos, olga, mallory, asked, submitted):
    def listed(user):
        return {r["id"] for r in api_client(user).get("/api/v1/approvals").json()["results"]}

    both = {asked.pk, submitted.pk}
    assert listed(olga) == listed(amos) == listed(margaret) == both
    assert listed(rita) == both  # her ask, and the review of the report she asked for
    assert listed(alice) == {submitted.pk}
    assert listed(mallory) == set()


def test_the_policy_refuses_deciding_ones_own_creation_even_when_someone_else_submitted(
        rita, margaret, amos, needs_approval):
    """margaret submits rita's draft: rita asked for the task, so she still may not decide."""
    draft = create_task(by=rita, task_type=needs_approval, draft=True)
    services.task_transition(task_id=draft.pk, action="submit", by=Actor.for_user(margaret))
    request = ApprovalRequest.objects.select_related("task").get(task=draft)
    assert request.requester == margaret
    assert not may_decide(rita, request) and not may_decide(margaret, request)
    assert may_decide(amos, request)
