"""Deciders racing on real PostgreSQL connections: exactly one decision stands."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from apps.approvals import services
from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.core.exceptions import Conflict
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from tests.approvals.flows import creation_request
from tests.builders import make_user
from tests.concurrency import race

S = TaskStatus
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_two_deciders_approving_at_once_one_decision_stands(margaret, amos, asked):
    deciders = [margaret, amos]

    outcomes = race(2, lambda i: services.approval_approve(request_id=asked.pk,
                                                           by=Actor.for_user(deciders[i])))

    winners = [o for o in outcomes if isinstance(o, ApprovalRequest)]
    assert len(winners) == 1
    assert [type(o) for o in outcomes if not isinstance(o, ApprovalRequest)] == [Conflict]
    asked.refresh_from_db()
    assert (asked.status, asked.decider_id) == ("approved", winners[0].decider_id)
    assert TaskHistory.objects.filter(task_id=asked.task_id, transition="approve").count() == 1
    assert Task.objects.get(pk=asked.task_id).status == S.QUEUED


def test_approve_and_reject_at_once_the_task_follows_the_one_that_stands(
        margaret, amos, submitted):
    def decide(i):
        if i == 0:
            return services.approval_approve(request_id=submitted.pk,
                                             by=Actor.for_user(margaret))
        return services.approval_reject(request_id=submitted.pk, by=Actor.for_user(amos),
                                        comment="redo")

    outcomes = race(2, decide)

    assert sum(isinstance(o, ApprovalRequest) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    submitted.refresh_from_db()
    task = Task.objects.get(pk=submitted.task_id)
    expected = {"approved": S.COMPLETED, "rejected": S.RUNNING}[submitted.status]
    assert task.status == expected
    assert ApprovalRequest.objects.filter(task=task).count() == 1


def test_many_deciders_at_once_decide_once(olga, margaret, amos, asked):
    deciders = [olga, margaret, amos] + [make_user(f"admin{i}", admin=True) for i in range(5)]

    outcomes = race(len(deciders), lambda i: services.approval_approve(
        request_id=asked.pk, by=Actor.for_user(deciders[i]), comment=f"yes from {i}"))

    assert sum(isinstance(o, ApprovalRequest) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, ApprovalRequest))
    assert TaskHistory.objects.filter(task_id=asked.task_id, transition="approve").count() == 1


def test_a_decision_and_a_cancellation_at_once_never_deadlock(rita, margaret, needs_approval):
    """The decision locks the task before the request, as the cancellation's hook does."""
    for _ in range(5):
        request = creation_request(by=rita, task_type=needs_approval)

        def act(i, request=request):
            if i == 0:
                return services.approval_approve(request_id=request.pk,
                                                 by=Actor.for_user(margaret))
            return task_services.task_transition(task_id=request.task_id, action="cancel",
                                                 by=Actor.for_user(rita))

        outcomes = race(2, act)

        assert not [o for o in outcomes if isinstance(o, OperationalError)]
        assert all(not isinstance(o, Exception) or isinstance(o, Conflict) for o in outcomes)
        request.refresh_from_db()
        task = Task.objects.get(pk=request.task_id)
        assert task.status == S.CANCELLED  # cancel is allowed after approval, too
        assert request.status in ("approved", "withdrawn")
        assert not ApprovalRequest.objects.filter(task=task, status="pending").exists()
