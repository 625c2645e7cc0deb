"""Builders for test data: short, explicit, and named for what they make."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.roles import MANAGERS_GROUP
from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.models import Task, TaskType
from apps.tasks.states import HELD_STATES, TaskStatus

S = TaskStatus
_seq = itertools.count(1)


def make_user(username: str, *, manager: bool = False, admin: bool = False):
    user = get_user_model().objects.create_user(
        username=username, password=f"pw-{username}-{next(_seq)}", email=f"{username}@example.com",
        is_staff=admin, is_superuser=admin,
    )
    if manager:
        user.groups.add(Group.objects.get_or_create(name=MANAGERS_GROUP)[0])
    return user


def make_task_type(key: str | None = None, **fields) -> TaskType:
    key = key or f"type-{next(_seq)}"
    return TaskType.objects.create(key=key, name=key.replace("-", " ").title(), **fields)


def create_task(*, by, task_type: TaskType | None = None, **spec) -> Task:
    """A task made the way callers make them: through the service."""
    spec.setdefault("title", f"task {next(_seq)}")
    task, _ = services.task_create(
        spec=services.TaskSpec(task_type=task_type or make_task_type(), **spec),
        by=Actor.for_user(by),
    )
    return task


def task_in_state(status: str, *, creator, assignee=None, task_type: TaskType | None = None,
                  **fields) -> Task:
    """A task placed straight into `status`, as the life cycle would have left it."""
    now = timezone.now()
    values = {
        "title": f"task in {status}", "task_type": task_type or make_task_type(),
        "status": status, "created_by": creator, **fields,
    }
    if status in HELD_STATES:
        values.setdefault("assignee_user", assignee or creator)
        values.setdefault("assigned_at", now)
    if status in (S.RUNNING, S.PAUSED, S.IN_REVIEW):
        values.setdefault("attempts", 1)
        values.setdefault("started_at", now)
    if status not in (S.DRAFT, S.PENDING_APPROVAL, S.BLOCKED, S.SCHEDULED, S.REJECTED):
        values.setdefault("queued_at", now - timedelta(minutes=5))
    if status == S.SCHEDULED:
        values.setdefault("run_at", now + timedelta(hours=1))
    return Task.objects.create(**values)


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
