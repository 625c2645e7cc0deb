"""The two ways a task comes to wait for a decision, the way callers get it there."""

from __future__ import annotations

from apps.approvals.models import ApprovalKind, ApprovalRequest
from apps.core.actors import Actor
from apps.tasks import services as task_services
from apps.tasks.states import TaskStatus
from tests.builders import create_task

S = TaskStatus


def creation_request(*, by, task_type, **spec) -> ApprovalRequest:
    """A task asked for by `by` that waits for creation approval, and its request."""
    task = create_task(by=by, task_type=task_type, **spec)
    assert task.status == S.PENDING_APPROVAL
    return ApprovalRequest.objects.get(task=task, kind=ApprovalKind.CREATION)


def completion_request(*, creator, assignee, task_type, **spec) -> ApprovalRequest:
    """A task `creator` asked for, `assignee` did and submitted for review, and its request."""
    task = create_task(by=creator, task_type=task_type, **spec)
    task_services.task_assign(task_id=task.pk, user=assignee, by=Actor.system("test"))
    task_services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(assignee))
    task = task_services.task_complete(task_id=task.pk, result={"pages": 3},
                                       by=Actor.for_user(assignee))
    assert task.status == S.IN_REVIEW
    return ApprovalRequest.objects.get(task=task, kind=ApprovalKind.COMPLETION, status="pending")
