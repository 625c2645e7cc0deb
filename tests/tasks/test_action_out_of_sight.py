"""An action after which the caller no longer sees the task answers 200 with what it did."""

from __future__ import annotations

import pytest

from apps.approvals.models import ApprovalRequest
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import api_client, make_task_type, task_in_state

S = TaskStatus
pytestmark = pytest.mark.django_db


def held_by(holder, *, creator, started: bool = False, **type_fields) -> Task:
    """A task `creator` asked for, handed to `holder` (and started) by the life cycle."""
    return task_in_state(S.RUNNING if started else S.ASSIGNED, creator=creator,
                         assignee=holder, task_type=make_task_type(**type_fields))


def test_staff_member_who_declines_gets_200_with_what_happened(rita, alice):
    task = held_by(alice, creator=rita)

    response = api_client(alice).post(f"/api/v1/tasks/{task.pk}/decline", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["assignee"]) == (str(task.pk), "queued", None)
    # and they no longer see it: the answer was about what they did, not a read
    assert api_client(alice).get(f"/api/v1/tasks/{task.pk}").status_code == 404


def test_declining_through_put_status_answers_the_same(rita, alice):
    task = held_by(alice, creator=rita)
    response = api_client(alice).put(f"/api/v1/tasks/{task.pk}/status", {"status": "queued"},
                                        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "queued"


def test_a_holder_who_fails_a_task_that_will_be_retried_gets_200(rita, alice):
    task = held_by(alice, creator=rita, started=True, max_retries=3)

    response = api_client(alice).post(f"/api/v1/tasks/{task.pk}/fail", {"error": "disk"},
                                         format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["error"]) == ("scheduled", "disk")
    assert Task.objects.get(pk=task.pk).assignee_user is None


def test_a_holder_who_withdraws_their_completion_request_gets_200_with_the_decision(rita, alice):
    """Audit of the approval actions: a decision never takes the request out of its decider's
    sight today; the view answers with the decision it made whatever the rules become."""
    task = held_by(alice, creator=rita, started=True, requires_completion_approval=True)
    submitted = api_client(alice).post(f"/api/v1/tasks/{task.pk}/complete", {},
                                          format="json")
    assert submitted.json()["status"] == "in_review"
    asked = ApprovalRequest.objects.get(task=task)

    response = api_client(alice).post(f"/api/v1/approvals/{asked.pk}/withdraw", {},
                                         format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
