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
    """Through the task type service, so other apps' fields (strategy, leave_policy…) are
    written by their owners as the API writes them."""
    key = key or f"type-{next(_seq)}"
    return services.task_type_create(by=Actor.system("tests"), key=key,
                                     name=key.replace("-", " ").title(), **fields)


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
        values.setdefault("held_weight", values["task_type"].capacity_weight)
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


def make_skill(name: str):
    from apps.staff.models import Skill

    return Skill.objects.get_or_create(name=name)[0]


def make_staff(username: str, *, skills: dict[str, int] | None = None, capacity: int = 3,
               seniority: int = 1, rating: int = 3, team=None, **user_flags):
    """A staff member with a user of the same name and the given skill levels."""
    from apps.staff.models import Staff, StaffSkill

    user = make_user(username, **user_flags)
    staff = Staff.objects.create(user=user, capacity=capacity, seniority=seniority,
                                 rating=rating, team=team)
    for name, level in (skills or {}).items():
        StaffSkill.objects.create(staff=staff, skill=make_skill(name), level=level)
    return staff


def require(task_type: TaskType, skills: dict[str, int]) -> TaskType:
    from apps.staff.models import RequiredSkill

    for name, level in skills.items():
        RequiredSkill.objects.create(task_type=task_type, skill=make_skill(name), level=level)
    return task_type


# --- staff ---------------------------------------------------------------------------------------
def make_team(name: str, *, manager=None, parent=None):
    from apps.staff.models import Team

    return Team.objects.create(name=name, manager=manager, parent=parent)


def make_leave(staff, *, days_from_now: float = 0, days: float = 7, **fields):
    """A leave starting `days_from_now` (negative: already started) and lasting `days`."""
    from apps.staff.models import Leave

    start = timezone.now() + timedelta(days=days_from_now)
    return Leave.objects.create(staff=staff, start=start, end=start + timedelta(days=days),
                                **fields)


def field_errors(response) -> dict:
    """A 400's field errors: its body without the `detail` and `code` every error carries."""
    return {k: v for k, v in response.json().items() if k not in ("detail", "code")}
