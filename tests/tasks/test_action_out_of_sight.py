"""An action after which the caller no longer sees the task answers 200 with what it did."""

from __future__ import annotations

import pytest

from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_staff, make_task_type, make_user

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def creator():
    return make_user("carol")


@pytest.fixture
def ann():
    return make_staff("ann")


def held_by(staff, *, creator, started: bool = False, **type_fields) -> Task:
    """A task handed to `staff` the way the life cycle does it (capacity taken)."""
    task = create_task(by=creator, task_type=make_task_type(**type_fields))
    services.task_assign(task_id=task.pk, user=staff.user, by=Actor.system("test"))
    if started:
        services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(staff.user))
    return task


def test_staff_member_who_declines_gets_200_with_what_happened(creator, ann):
    task = held_by(ann, creator=creator)

    response = api_client(ann.user).post(f"/api/v1/tasks/{task.pk}/decline", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["assignee"]) == (str(task.pk), "queued", None)
    # and they no longer see it: the answer was about what they did, not a read
    assert api_client(ann.user).get(f"/api/v1/tasks/{task.pk}").status_code == 404


def test_declining_through_put_status_answers_the_same(creator, ann):
    task = held_by(ann, creator=creator)
    response = api_client(ann.user).put(f"/api/v1/tasks/{task.pk}/status", {"status": "queued"},
                                        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "queued"


def test_a_holder_who_fails_a_task_that_will_be_retried_gets_200(creator, ann):
    task = held_by(ann, creator=creator, started=True, max_retries=3)

    response = api_client(ann.user).post(f"/api/v1/tasks/{task.pk}/fail", {"error": "disk"},
                                         format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["error"]) == ("scheduled", "disk")
    assert Task.objects.get(pk=task.pk).assignee_user is None


def test_a_holder_who_withdraws_their_completion_request_gets_200_with_the_decision(creator,
                                                                                    ann):
    """Audit of the approval actions: a decision never takes the request out of its decider's
    sight today; the view answers with the decision it made whatever the rules become."""
    task = held_by(ann, creator=creator, started=True, requires_completion_approval=True)
    submitted = api_client(ann.user).post(f"/api/v1/tasks/{task.pk}/complete", {},
                                          format="json")
    assert submitted.json()["status"] == "in_review"
    asked = ApprovalRequest.objects.get(task=task)

    response = api_client(ann.user).post(f"/api/v1/approvals/{asked.pk}/withdraw", {},
                                         format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
